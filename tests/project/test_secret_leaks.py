"""Secrets never come back in an error: a URL someone wrote a password into is shown masked
(command line and migration.toml), and a secret reference that does not resolve is named by
file, line and key. The real CLI runs; its stdout, stderr and log file are searched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from testbed import MAILFERRY

SECRET = "S3cret-pw_7f2e"


def _run(args: list[str], tmp_path: Path, *, log_file: bool = True) -> tuple[int, str]:
    """Exit status, and everything the run wrote (stdout, stderr, log file)."""
    log = tmp_path / "run.log"
    extra = ["--log-file", str(log)] if log_file else []
    done = subprocess.run([*MAILFERRY, *args, *extra], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "MAILFERRY_SOURCE_PASSWORD": "x",
                               "MAILFERRY_TARGET_PASSWORD": "x"})
    written = done.stdout + done.stderr + (log.read_text() if log.exists() else "")
    return done.returncode, written


@pytest.mark.parametrize("url", [
    f"imap://alice:{SECRET}@127.0.0.1:99999",  # port out of range: unparsable
    f"imap://alice:{SECRET}",                  # a password and no host: read as a port
    f"http://alice:{SECRET}@127.0.0.1:143",    # wrong scheme
    f"imap:/alice:{SECRET}@127.0.0.1",
    f"imap://alice:{SECRET}@",
])
def test_copy_never_echoes_a_password_written_into_a_url(url: str, tmp_path: Path) -> None:
    code, written = _run(["copy", url, "imap://bob@127.0.0.1:143", "--state",
                          str(tmp_path / "s.db")], tmp_path)
    assert code == 2, written
    assert SECRET not in written
    assert "source URL" in written and "***" in written  # still says which URL it was


def _project(tmp_path: Path, *, source: str = "imaps://imap.old.example:993",
             master_password: str = "file:master.pw", secrets_row: str = "alice,pw-a,",
             relay: str = "") -> Path:
    (tmp_path / "master.pw").write_text("admin-secret\n")
    (tmp_path / "users.csv").write_text("source_user,target_user,department,wave\nalice,,,\n")
    (tmp_path / "secrets.csv").write_text(
        f"user,source_password,target_password\n{secrets_row}\n")
    toml = tmp_path / "migration.toml"
    toml.write_text(f"""\
[source]
imap = "{source}"
auth = "password"

[target]
imap = "imaps://imap.new.example:993"
auth = "master"
master_user = "admin"
master_password = "{master_password}"

[users]
file = "users.csv"
secrets = "secrets.csv"
{relay}""")
    return toml


@pytest.mark.parametrize("source", [
    f"imaps://admin:{SECRET}@imap.old.example:99x",  # bad port
    f"imaps://admin:{SECRET}@imap.old.example:993",  # no password allowed here
    f"imaps:/admin:{SECRET}@imap.old.example",
])
def test_a_password_in_a_migration_toml_url_is_masked(source: str, tmp_path: Path) -> None:
    toml = _project(tmp_path, source=source)
    for command in (["sync", str(toml)], ["waves", str(toml)]):
        code, written = _run(command, tmp_path, log_file=command[0] == "sync")
        assert code == 2, written
        assert SECRET not in written
        assert f"{toml}:2" in written and "***" in written  # [source] imap is on line 2


def test_a_password_in_a_relay_upstream_url_is_masked(tmp_path: Path) -> None:
    toml = _project(tmp_path, relay=f"""
[migration]
name = "acme"
domains = ["old.example"]
timezone = "UTC"
cutover = 2030-01-01T00:00:00

[relay]
listen = "127.0.0.1:2525"
spool = "spool"
domains = ["old.example"]
old = "smtp://relay:{SECRET}@127.0.0.1:2526"
new = "lmtp://127.0.0.1:24"
""")
    code, written = _run(["relay", "queue", str(toml)], tmp_path, log_file=False)
    assert code == 2, written
    assert SECRET not in written and "***" in written


def test_an_unset_environment_reference_names_file_line_and_key(tmp_path: Path) -> None:
    toml = _project(tmp_path, master_password="env:MAILFERRY_TEST_UNSET_MASTER")
    code, written = _run(["sync", str(toml)], tmp_path)
    assert code == 2, written
    line = toml.read_text().splitlines().index(
        'master_password = "env:MAILFERRY_TEST_UNSET_MASTER"') + 1
    assert f"{toml}:{line}: [target] master_password: environment variable " \
           "MAILFERRY_TEST_UNSET_MASTER is not set or empty" in written


def test_a_secrets_csv_reference_names_file_line_and_column(tmp_path: Path) -> None:
    toml = _project(tmp_path, secrets_row="alice,file:missing-password-file,")
    code, written = _run(["sync", str(toml)], tmp_path)
    assert code == 2, written
    assert f"{tmp_path / 'secrets.csv'}:2: source_password: cannot read secret file" in written
