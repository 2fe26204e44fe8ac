"""`status` reads at 80 columns and through a pipe (cron mail, `| less`): one record per
block when a table would not fit, no reason cut, nothing in brackets lost, times in the
migration's time zone. A real project: 13 users synced on Dovecot, one refused at login."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from testbed import Dovecot, imap_login, seed
from testbed.messages import sample_mailbox
from testbed.projectkit import Project, fill, org_users, start_pair
from testbed.terminal import on_terminal as terminal

MAILFERRY = [sys.executable, "-m", "mailferry"]
LONG_DEPARTMENT = "Customer Support and After-Sales Service (EMEA region, second line)"
BRACKETED = "[ext]visitor"  # a user name rich would read as markup
ZONE = "Asia/Kuala_Lumpur"


def piped(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=120,
                          env=env)


def on_terminal(*args: str, columns: int = 80) -> str:
    return terminal(MAILFERRY + list(args), columns=columns)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def thirteen(dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> Project:
    users = org_users(13)
    source, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=3, sizes=(600, 1200))
    project = Project(tmp_path, source, target, users, extra=f"""
[migration]
name = "bank"
domains = ["bank.example"]
timezone = "{ZONE}"
cutover = 2030-01-05T18:00:00
""").write()
    rows = ["source_user,target_user,department,wave"]
    rows += [f"{u.name},,\"{LONG_DEPARTMENT if n == 5 else 'sales'}\",w1"
             for n, u in enumerate(users)]
    rows.append(f"{BRACKETED},,[contractors],later")
    (tmp_path / "users.csv").write_text("\n".join(rows) + "\n")
    secrets = (tmp_path / "secrets.csv").read_text().replace("pw-u012", "wrong-password")
    (tmp_path / "secrets.csv").write_text(secrets)
    assert piped("sync", str(project.toml), "--wave", "w1").returncode == 1
    return project


def _expected(project: Project) -> tuple[str, list[str]]:
    data = json.loads(piped("status", str(project.toml), "--json").stdout)
    (failed,) = [u for u in data["users"] if u["status"] == "failed"]
    assert failed["source_user"] == "u012" and len(failed["error"]) > 60
    zone = ZoneInfo(ZONE)
    times = sorted({dt.datetime.fromisoformat(u["last_sync"]).astimezone(zone)
                    .strftime("%Y-%m-%d %H:%M") for u in data["users"] if u["last_sync"]})
    return failed["error"], times


def _assert_reads(out: str, reason: str, times: list[str]) -> None:
    text = flat(out)
    assert flat(reason) in text, out  # the whole reason, in one piece
    assert flat(LONG_DEPARTMENT) in text, out
    assert BRACKETED in text and "[contractors]" in text, out
    for n in range(13):
        assert f"u{n:03d}" in text, out
    assert all(time in text for time in times), (times, out)  # the migration's zone


def test_status_reads_when_piped(thirteen: Project) -> None:
    reason, times = _expected(thirteen)
    done = piped("status", str(thirteen.toml))
    assert done.returncode == 0, done.stderr
    _assert_reads(done.stdout, reason, times)
    lines = done.stdout.splitlines()
    # one record per line or block, greppable: the failing user's line carries its status
    assert any("u012" in line and "failed" in line for line in lines), done.stdout


def test_status_reads_on_an_80_column_terminal(thirteen: Project) -> None:
    reason, times = _expected(thirteen)
    out = on_terminal("status", str(thirteen.toml))
    _assert_reads(out, reason, times)
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_status_is_a_table_on_a_wide_terminal(thirteen: Project) -> None:
    reason, times = _expected(thirteen)
    out = on_terminal("status", str(thirteen.toml), columns=250)
    assert "│" in out or "┃" in out, out  # room enough: the table
    _assert_reads(out, reason, times)


def test_copy_progress_shows_messages_bytes_rates_and_time_left(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source, target = dovecot_factory(), dovecot_factory()
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, sample_mailbox(120, ["INBOX", "Work"], sizes=(2000, 6000)))
    conn.logout()
    out = terminal([*MAILFERRY, "copy", source.url(), target.url(), "--state",
                    str(tmp_path / "s.db")], columns=160,
                   env={"MAILFERRY_SOURCE_PASSWORD": source.password(),
                        "MAILFERRY_TARGET_PASSWORD": target.password()})
    bar = [line for line in out.splitlines() if line.startswith("copying")]
    assert bar, out
    last = bar[-1]
    assert re.search(r"\b(\d+)/\1 msgs\b", last), last  # messages counted as messages
    assert re.search(r"\d+(\.\d)? kB/\d+(\.\d)? kB", last), last  # bytes, of the total
    assert re.search(r"msg/s", last) and re.search(r"\d:\d\d:\d\d", last), last


def test_sync_progress_shows_bytes_and_messages_overall(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(2)
    source, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=40, sizes=(2000, 4000))
    project = Project(tmp_path, source, target, users).write()
    out = terminal([*MAILFERRY, "sync", str(project.toml)], columns=160)
    overall = [line for line in out.splitlines() if "mailboxes" in line and "msgs" in line]
    assert overall, out
    assert re.search(r"2/2 mailboxes [\d,]+ msgs \d+(\.\d)? kB", overall[-1]), overall[-1]
    assert "msg/s" in overall[-1], overall[-1]
