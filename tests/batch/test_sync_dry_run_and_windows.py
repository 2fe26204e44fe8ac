"""`sync --dry-run` says what would be copied per user and folder and writes nothing (no
folder, no message on the targets, no state); `sync --ignore-windows` copies outside the
maintenance windows and says so. Real CLI processes, real Dovecot."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from imapclient import imap_utf7

from testbed import MAILFERRY, Dovecot, snapshot
from testbed.projectkit import (
    Project,
    add_new_mail,
    assert_migrated,
    fill,
    org_users,
    seeded_project,
    start_pair,
)

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=300)


def test_dry_run_plans_per_user_and_folder_and_writes_nothing(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users, source, target, project = seeded_project(dovecot_factory, tmp_path, 2,
                                                    messages=10)
    before = {u.name: snapshot(target.host, target.port, u.name, u.password) for u in users}

    done = cli("sync", str(project.toml), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    plans = json.loads(done.stdout)["mailboxes"]
    for user in users:
        want = snapshot(source.host, source.port, user.name, user.password)
        to_copy = {f["source"]: f["to_copy"] for f in plans[user.name]["folders"]
                   if f["status"] != "excluded"}
        assert to_copy == {imap_utf7.decode(name.encode()): sum(c.values())
                           for name, c in want.items() if name != "Trash"}, user.name
        assert snapshot(target.host, target.port, user.name, user.password) == before[user.name]
    assert not (tmp_path / "state.db").exists()  # no state written either
    human = cli("sync", str(project.toml), "--dry-run")
    assert human.returncode == 0 and "u001: would copy" in human.stdout
    assert "Projects/2024 -> Projects/2024" in human.stdout

    assert cli("sync", str(project.toml)).returncode == 0
    state = (tmp_path / "state.db").read_bytes()
    add_new_mail(source, users[0], 3, seed_value=7)
    delta = json.loads(cli("sync", str(project.toml), "--dry-run", "--json").stdout)
    assert {u: p["totals"]["to_copy"] for u, p in delta["mailboxes"].items()} == {
        users[0].name: 3, users[1].name: 0}
    assert (tmp_path / "state.db").read_bytes() == state
    status = json.loads(cli("status", str(project.toml), "--json").stdout)
    assert all(u["passes"] == 1 for u in status["users"])


def test_ignore_windows_copies_outside_the_windows_and_says_so(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(2)
    source, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=5)
    day = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    project = Project(tmp_path, source, target, users, extra=f"""
[migration]
name = "acme"
domains = ["acme.example"]
timezone = "UTC"
cutover = 2030-01-01T00:00:00
windows = ["{DAYS[day.weekday()]} 10:00-10:59"]
""").write()
    assert cli("sync", str(project.toml)).returncode == 1  # closed: nothing starts
    log = tmp_path / "sync.log"
    done = cli("sync", str(project.toml), "--ignore-windows", "--log-file", str(log))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert "outside the maintenance windows: copying anyway (--ignore-windows" in said
    assert "--ignore-windows" in log.read_text()
    for user in users:
        assert_migrated(source, target, user)
