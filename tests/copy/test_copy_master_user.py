"""`copy` and `verify` logging in as Dovecot master users (--source-master/--target-master):
the master's password from the environment or a file, never on the command line; the
mailbox is the URL's user's. Real CLI processes, real Dovecot with a master user."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from testbed import MAILFERRY, Dovecot, DovecotUser, imap_login, seed
from testbed.copykit import mailbox
from testbed.messages import sample_mailbox

ADMIN = DovecotUser("admin", "master-secret-1")
OTHER_ADMIN = DovecotUser("root", "master-secret-2")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_copy_and_verify_as_master_users(dovecot_factory: Callable[..., Dovecot],
                                         tmp_path: Path) -> None:
    source = dovecot_factory(master=ADMIN)
    target = dovecot_factory(master=OTHER_ADMIN)
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, sample_mailbox(30, ["INBOX", "Work", "[Gmail]/Sent Mail"]))
    conn.logout()
    secret = tmp_path / "target-master.pw"
    secret.write_text(OTHER_ADMIN.password + "\n")
    urls = [source.url(), target.url()]
    masters = ["--source-master", ADMIN.name, "--target-master", OTHER_ADMIN.name,
               "--target-password-file", str(secret)]
    env = {"MAILFERRY_SOURCE_PASSWORD": ADMIN.password, "MAILFERRY_TARGET_PASSWORD": ""}

    done = cli("copy", *urls, *masters, "--state", str(tmp_path / "s.db"), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["copied"] == sum(
        sum(c.values()) for c in mailbox(source).values())
    def filled(server: Dovecot) -> dict[str, object]:  # alice's own mailbox, read as alice
        return {name: c for name, c in mailbox(server).items() if c}
    assert filled(target) == filled(source)

    checked = cli("verify", *urls, *masters, "--json", env=env)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True

    # the wrong master (or its wrong password) is refused: exit 2, nothing written
    wrong = cli("copy", *urls, "--source-master", OTHER_ADMIN.name, "--target-master",
                OTHER_ADMIN.name, "--target-password-file", str(secret), "--state",
                str(tmp_path / "s2.db"), env=env)
    assert wrong.returncode == 2 and f":{source.port}" in wrong.stderr, wrong.stderr
    assert "refused" in wrong.stderr
    for out in (done.stdout, done.stderr, checked.stdout, wrong.stderr):
        assert ADMIN.password not in out and OTHER_ADMIN.password not in out
