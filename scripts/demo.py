"""`make demo`: two throwaway Dovecot servers on 127.0.0.1, a sample mailbox, two copies.

The source is laid out like many old providers ('.' delimiter, "INBOX." prefix, "Sent
Messages"), the target like many new ones ('/' delimiter, "Sent Items"). The second copy
finds nothing to do. Then the project demo (many users in waves) runs, then one monitor
pass after a cutover (scripts/demo_monitor.py). Last, at a terminal (or with
MAILFERRY_DEMO_SERVE=1), the project's live dashboard until Ctrl-C; elsewhere (CI, a pipe)
it ends, printing the command that serves it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import Dovecot, DovecotUser, imap_login, seed  # noqa: E402
from testbed.messages import sample_mailbox  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import demo_project  # noqa: E402

SOURCE_FOLDERS = ["INBOX", "INBOX.Sent Messages", "INBOX.Drafts", "INBOX.Projects",
                  "INBOX.Projects.2024", "INBOX.Projects.2025", "INBOX.Caf&AOk-",
                  "INBOX.&ZeVnLIqe-", "INBOX.Clients.Acme", "INBOX.Trash"]


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="mailferry-demo-"))
    users = [DovecotUser("alice", "demo-source-pw")]
    source = Dovecot(users=users, layout="dot",
                     special={"\\Sent": "Sent Messages", "\\Drafts": "Drafts",
                              "\\Trash": "Trash"})
    target = Dovecot(users=[DovecotUser("alice", "demo-target-pw")], layout="slash",
                     special={"\\Sent": "Sent Items", "\\Drafts": "Drafts",
                              "\\Trash": "Deleted Items", "\\Junk": "Junk Email"})
    with source, target:
        banner(f"source: imap://alice@127.0.0.1:{source.port} ('.' delimiter, INBOX. prefix)")
        conn = imap_login(source.host, source.port, "alice", "demo-source-pw")
        messages = sample_mailbox(400, SOURCE_FOLDERS, seed=42)
        seed(conn, messages)
        conn.logout()
        print(f"seeded {len(messages)} messages into {len(SOURCE_FOLDERS)} folders "
              "(nested, non-ASCII, flags, keywords, 10 years of dates, a few duplicates)")
        banner(f"target: imap://alice@127.0.0.1:{target.port} ('/' delimiter, Sent Items)")
        env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": "demo-source-pw",
               "MAILFERRY_TARGET_PASSWORD": "demo-target-pw", "COLUMNS": "140"}
        command = [str(REPO / ".venv/bin/mailferry"), "copy", source.url(), target.url(),
                   "--state", str(workdir / "mailferry-state.db")]
        for run in ("first copy", "second copy: nothing new, so nothing is copied"):
            banner(f"mailferry copy ({run})")
            print("$ " + " ".join(command[1:]), flush=True)
            code = subprocess.run(command, env=env).returncode
            if code != 0:
                print(f"mailferry copy exited with {code}")
                return code
    banner("a migration project: 20 users in waves")
    project = Path(tempfile.mkdtemp(prefix="mailferry-project-demo-"))
    code = subprocess.run([sys.executable, str(REPO / "scripts" / "demo_project.py"),
                           str(project)], env={**os.environ, "MAILFERRY_DEMO_SERVE": "0"}
                          ).returncode
    if code != 0:
        return code
    banner("after the cutover: mailferry monitor")
    code = subprocess.run([sys.executable, str(REPO / "scripts" / "demo_monitor.py")],
                          env={**os.environ, "COLUMNS": "140"}).returncode
    if code == 0 and demo_project.should_serve():  # last: it runs until Ctrl-C
        demo_project.serve(project / "migration.toml")
    elif code == 0:
        print(f"\nthe project's live dashboard: {REPO}/.venv/bin/mailferry serve "
              f"-p {project / 'migration.toml'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
