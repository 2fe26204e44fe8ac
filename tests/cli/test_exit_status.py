"""Exit statuses in one place: every command returns its status, only `mailferry.cli.main`
exits; a usage error, click's or ours, is one line `mailferry: error: <where>: <what>`
with status 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mailferry.backup import Codec, backup_mailbox
from mailferry.cli import run
from mailferry.imap import Account, Credentials, parse_mailbox_url
from testbed import MAILFERRY, Dovecot, imap_login, seed
from testbed.messages import sample_mailbox

CONSOLE_SCRIPT = Path(sys.executable).with_name("mailferry")  # what pyproject installs
ONE_LINE = re.compile(r"^mailferry: error: (?P<where>[^:]+(?::\d+)?): (?P<what>.+)$")


@pytest.mark.parametrize(("args", "where"), [
    (["copy"], "copy"),                                        # click: missing argument
    (["copy", "a", "b", "--workers", "99"], "copy"),           # click: bad value
    (["copy", "a", "b", "--frobnicate"], "copy"),              # click: no such option
    (["frobnicate"], "command line"),                          # click: no such command
    ([], "command line"),                                      # click: no command at all
    (["import"], "import"),                                    # ... nor a subcommand
    (["import", "mbox"], "import mbox"),                       # click, in a nested group
    (["backup"], "backup"),                                    # ours, said without a place
    (["backup", "--wave", "w1", "imap://a@h", "d"], "backup"),
    (["status", "-p", "a.toml", "b.toml"], "status"),           # ours, as a click UsageError
    (["init", "{existing}"], "init"),
])
def test_a_usage_error_is_one_line_with_status_2(args: list[str], where: str,
                                                 tmp_path: Path) -> None:
    existing = tmp_path / "migration.toml"
    existing.write_text("# mine\n")
    values = {"existing": str(existing)}
    args = [a.format(**values) for a in args]
    done = subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # no "Usage:" block, no "Try ... --help"
    match = ONE_LINE.match(lines[0])
    assert match and match["where"] == where.format(**values), lines[0]
    assert existing.read_text() == "# mine\n"


def test_commands_return_their_status_and_only_main_exits(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source = dovecot_factory()
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, sample_mailbox(5, ["INBOX"]))
    conn.logout()
    endpoint = parse_mailbox_url(source.url())
    backup_mailbox(Account(endpoint, Credentials("alice", source.password())), tmp_path,
                   Codec())
    victim = next((tmp_path / f"alice@{source.host}" / "INBOX" / "cur").iterdir())
    victim.write_bytes(victim.read_bytes()[:-10])
    # in-process: a status comes back, no SystemExit is raised on the way
    assert run(["backup", "--verify", str(tmp_path), "--json"]) == 1
    assert run(["backup", "--verify", str(tmp_path / "nowhere")]) == 2
    assert run(["--version"]) == 0
    # the console script and `python -m mailferry` (cli.console: main, then a quicker end)
    # turn it into the process's exit status, with everything printed
    for launcher in ([CONSOLE_SCRIPT], MAILFERRY):
        done = subprocess.run([*launcher, "backup", "--verify", str(tmp_path), "--json"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        report = json.loads(done.stdout)
        assert [p["kind"] for m in report["mailboxes"] for p in m["problems"]] == ["corrupt"]
        done = subprocess.run([*launcher, "backup", "--verify", str(tmp_path / "nowhere")],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and done.stdout == "", done.stdout
        assert ONE_LINE.match(done.stderr.rstrip("\n")), done.stderr
