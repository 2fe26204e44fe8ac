"""The project demo: an organisation of 20 users in 4 departments moves in waves.

A source Dovecot with realistic, varied mailboxes; a target Dovecot reached through its
master user (no user passwords on the target side); a pilot of 4 drawn across departments,
then the rest, then a delta pass after new mail arrives. Prints the status table and
writes the HTML report. Run it directly or from scripts/demo.py (`make demo`).
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import Dovecot, DovecotUser, SeedMessage, imap_login, seed  # noqa: E402
from testbed.messages import make_message, random_flags, sample_mailbox  # noqa: E402

DEPARTMENTS = ("sales", "support", "marketing", "development")
FOLDERS = ["INBOX", "Sent", "Drafts", "Trash", "Projects", "Projects/2025", "Customers/Acme",
           "Caf&AOk-"]
MASTER = DovecotUser("admin", "demo-master-pw")


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def mailferry(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], cwd=REPO).returncode


def put(server: Dovecot, user: DovecotUser, messages: list[SeedMessage]) -> None:
    conn = imap_login(server.host, server.port, user.name, user.password)
    try:
        seed(conn, messages)
    finally:
        conn.logout()


def write_project(workdir: Path, source: Dovecot, target: Dovecot,
                  users: list[DovecotUser]) -> Path:
    (workdir / "master.pw").write_text(MASTER.password + "\n")
    (workdir / "users.csv").write_text("source_user,target_user,department,wave\n" + "".join(
        f"{u.name},,{DEPARTMENTS[n % 4]},\n" for n, u in enumerate(users)))
    (workdir / "secrets.csv").write_text("user,source_password,target_password\n" + "".join(
        f"{u.name},{u.password},\n" for u in users))
    toml = workdir / "migration.toml"
    toml.write_text(f"""\
[source]
imap = "imap://127.0.0.1:{source.port}"
auth = "password"
max_connections = 8

[target]
imap = "imap://127.0.0.1:{target.port}"
auth = "master"
master_user = "{MASTER.name}"
master_password = "file:master.pw"   # never the secret itself

[users]
file = "users.csv"
secrets = "secrets.csv"

[filters]
exclude_special = ["\\\\Trash"]        # as announced to users: the trash does not move

[pilot]
size = 4

[sync]
state = "state.db"
mailboxes = 4
workers = 2
""")
    return toml


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="mailferry-project-demo-"))
    names = ["ana", "bo", "chloe", "dmitri", "eve", "farah", "gus", "hana", "ivan", "jo",
             "kim", "lea", "max", "nora", "omar", "pia", "quinn", "rui", "sara", "tom"]
    users = [DovecotUser(name, f"{name}-old-pw") for name in names]
    rng = random.Random(5)
    with Dovecot(users=users) as source, Dovecot(users=users, master=MASTER) as target:
        banner(f"20 users on the source Dovecot ({source.url(names[0])} ...)")
        for n, user in enumerate(users):  # from a few dozen messages to a few hundred
            put(source, user, sample_mailbox(rng.randint(20, 250), FOLDERS, seed=n,
                                             sizes=(1500, rng.choice((8000, 30000, 90000)))))
        toml = write_project(workdir, source, target, users)
        print(f"project in {workdir}: migration.toml, users.csv, secrets.csv")

        banner("mailferry waves --draw-pilot  (4 users across the 4 departments)")
        mailferry("waves", str(toml), "--draw-pilot")
        banner("mailferry sync --wave pilot")
        mailferry("sync", str(toml), "--wave", "pilot")
        banner("mailferry sync  (everyone else; the pilot costs one STATUS per folder)")
        mailferry("sync", str(toml))

        banner("new mail arrives for 5 users; mailferry sync  (delta pass)")
        for user in users[::4]:
            put(source, user, [SeedMessage(make_message(rng, 50_000 + k), "INBOX",
                                           random_flags(rng)) for k in range(3)])
        code = mailferry("sync", str(toml))
        banner("mailferry status")
        mailferry("status", str(toml))
        report = workdir / "report.html"
        mailferry("report", str(toml), "--html", str(report))
        print(f"\nHTML report: {report}")
        return code


if __name__ == "__main__":
    sys.exit(main())
