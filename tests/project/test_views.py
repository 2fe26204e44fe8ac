"""One load() with a view per kind of command: a command reads only the sections it uses,
and a missing one is a one-line error naming the file and the section, exit status 2.

Run as the user runs it (`python -m mailferry ...`), on files that hold only some sections."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from testbed import MAILFERRY

MIGRATION = """\
[migration]
name = "bank"
domains = ["bank.example"]
timezone = "Europe/Berlin"
cutover = 2026-12-12T20:00:00
"""
SIDES = """\
[source]
imap = "imaps://imap.old.example:993"

[target]
imap = "imaps://imap.new.example:993"
"""
USERS = """\
[users]
file = "users.csv"
"""
RELAY = """\
[relay]
listen = "127.0.0.1:0"
spool = "spool"
domains = ["bank.example"]
old = "lmtp://127.0.0.1:24001"
"""


def mailferry(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})


def write(tmp_path: Path, *sections: str) -> Path:
    path = tmp_path / "migration.toml"
    path.write_text("\n".join(sections), encoding="utf-8")
    (tmp_path / "users.csv").write_text(
        "source_user,target_user,department,wave\nalice,alice@bank.example,IT,w1\n",
        encoding="utf-8")
    return path


def test_the_relay_runs_from_a_file_without_source_or_migration(tmp_path: Path) -> None:
    """The relay's view needs [relay] alone, even when the file holds the sync's sections."""
    path = write(tmp_path, RELAY, USERS)
    done = mailferry(tmp_path, "relay", "queue", "--json", str(path))
    assert (done.returncode, json.loads(done.stdout)) == (0, []), done.stderr


def test_waves_need_no_migration_section(tmp_path: Path) -> None:
    path = write(tmp_path, SIDES, USERS)
    done = mailferry(tmp_path, "waves", str(path))
    assert done.returncode == 0, done.stderr
    assert "w1" in done.stdout


def test_plan_needs_no_users(tmp_path: Path) -> None:
    path = write(tmp_path, MIGRATION, SIDES)
    done = mailferry(tmp_path, "plan", "--no-check", "--now", "2026-11-01T10:00:00",
                     str(path))
    assert done.returncode in (0, 1), done.stderr  # 1: a plan found infeasible, still a plan
    assert "bank" in done.stdout


@pytest.mark.parametrize(("sections", "command", "missing"), [
    ((SIDES, USERS), ("relay", "queue"), "relay"),
    ((RELAY, USERS), ("waves",), "source"),
    ((MIGRATION, SIDES), ("waves",), "users"),
    ((SIDES, USERS), ("plan", "--no-check"), "migration"),
    ((MIGRATION, USERS), ("plan", "--no-check"), "source"),
])
def test_a_missing_section_names_the_file_and_the_section(
        tmp_path: Path, sections: tuple[str, ...], command: tuple[str, ...],
        missing: str) -> None:
    path = write(tmp_path, *sections)
    done = mailferry(tmp_path, *command, str(path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"mailferry: error: {path}: missing section [{missing}]"], done.stderr
    assert not (tmp_path / "spool").exists()  # nothing half-done
