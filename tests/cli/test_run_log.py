"""A log file per run under the project (issue 19 §3): logs/YYYY-MM-DD-HHMMSS-<command>.log
with the command line, never a secret (a password in a URL, those of secrets.csv), and every
failure in the server's words; `--no-log` and `[logs] enabled = false` turn it off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, DovecotUser, imap_login, seed
from testbed.messages import sample_mailbox

MAILFERRY = Path(sys.executable).with_name("mailferry")
NAME = re.compile(r"^\d{4}-\d\d-\d\d-\d{6}-(?P<command>[a-z-]+?)(-\d+)?\.log$")
WRONG = "Wr0ng-Passw0rd-of-alice"
RIGHT = "bobs-Passw0rd-4242"


def mailferry(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MAILFERRY), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, env={**os.environ, "COLUMNS": "200"})


def project_on(directory: Path, source_port: int, target_port: int, extra: str = "") -> Path:
    (directory / "users.csv").write_text("source_user,target_user,department,wave\n"
                                         "alice,,a,\nbob,,b,\n")
    # alice's old password is wrong: the source refuses her, in its own words
    (directory / "secrets.csv").write_text(f"user,source_password,target_password\n"
                                           f"alice,{WRONG},a-new-pw\n"
                                           f"bob,{RIGHT},b-new-pw\n")
    toml = directory / "migration.toml"
    toml.write_text(f"""[source]
imap = "imap://127.0.0.1:{source_port}"
[target]
imap = "imap://127.0.0.1:{target_port}"
[users]
file = "users.csv"
secrets = "secrets.csv"
{extra}""")
    return toml


def logs(directory: Path) -> dict[str, str]:
    folder = directory / "logs"
    return {p.name: p.read_text() for p in folder.iterdir()} if folder.exists() else {}


def test_a_run_leaves_its_log_with_the_servers_words_and_no_secret(
        tmp_path: Path, dovecot_factory: Callable[..., Dovecot]) -> None:
    source = dovecot_factory(users=[DovecotUser("alice", "alice-real-pw"),
                                    DovecotUser("bob", RIGHT)])
    target = dovecot_factory(users=[DovecotUser("alice", "a-new-pw"),
                                    DovecotUser("bob", "b-new-pw")])
    conn = imap_login(source.host, source.port, "bob", RIGHT)
    seed(conn, sample_mailbox(3, ["INBOX"]))
    conn.logout()
    project_on(tmp_path, source.port, target.port)
    done = mailferry(tmp_path, "sync")
    assert done.returncode == 1, done.stderr  # alice failed, bob synced
    (name, text), = logs(tmp_path).items()
    match = NAME.match(name)
    assert match and match["command"] == "sync", name
    assert "mailferry sync" in text  # the command line
    assert "AUTHENTICATIONFAILED" in text or "Authentication failed" in text, text
    assert "alice" in text and "exit status 1" in text
    for secret in (WRONG, RIGHT, "alice-real-pw", "a-new-pw", "b-new-pw"):
        assert secret not in text

    # a password written into a URL on the command line: masked in the log
    done = mailferry(tmp_path, "copy", f"imap://alice:{WRONG}@127.0.0.1:{source.port}",
                     f"imap://alice@127.0.0.1:{target.port}")
    assert done.returncode == 2
    copy_log = next(t for n, t in logs(tmp_path).items() if NAME.match(n)["command"] == "copy")
    assert f"imap://alice:***@127.0.0.1:{source.port}" in copy_log, copy_log
    assert WRONG not in copy_log and "mailferry: error:" in copy_log

    # ... and one in a secrets.csv cell, echoed by nobody but searched for anyway: the
    # error that ends a run is in the log as the user saw it
    (tmp_path / "migration.toml").write_text((tmp_path / "migration.toml").read_text()
                                             .replace("[users]", "[users]\nbogus = 1"))
    done = mailferry(tmp_path, "status", "--user", WRONG)
    assert done.returncode == 2
    status_log = next(t for n, t in logs(tmp_path).items()
                      if NAME.match(n)["command"] == "status")
    assert "bogus" in status_log and "exit status 2" in status_log
    assert WRONG not in status_log and "--user ***" in status_log


def test_no_log_and_logs_enabled_false_write_none(tmp_path: Path) -> None:
    project_on(tmp_path, 1, 2)  # status and waves read files only
    assert mailferry(tmp_path, "status", "--no-log").returncode == 0
    assert logs(tmp_path) == {}
    project_on(tmp_path, 1, 2, extra="[logs]\nenabled = false\n")
    assert mailferry(tmp_path, "status").returncode == 0
    assert logs(tmp_path) == {}
    project_on(tmp_path, 1, 2, extra='[logs]\ndir = "run-logs"\n')
    assert mailferry(tmp_path, "waves").returncode == 0
    assert [NAME.match(p.name)["command"] for p in (tmp_path / "run-logs").iterdir()] == \
        ["waves"]
