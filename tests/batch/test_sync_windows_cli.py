"""The real `mailferry sync` process and the maintenance windows, asserted whatever the clock
says: the windows are written around the real "now" of the test, one certainly closed (a
day three days away) and one certainly open (every minute of every day)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from testbed import MAILFERRY, Dovecot, snapshot
from testbed.projectkit import MASTER, Project, assert_migrated, fill, org_users

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _windows(window: str) -> str:
    return f"""
[migration]
name = "acme"
domains = ["acme.example"]
timezone = "UTC"
cutover = 2030-01-01T00:00:00
windows = ["{window}"]
"""


def _sync(project: Project) -> tuple[int, dict[str, object], str]:
    done = subprocess.run([*MAILFERRY, "sync", str(project.toml), "--json"],
                          capture_output=True, text=True, timeout=180)
    return done.returncode, json.loads(done.stdout), done.stderr


def test_sync_outside_every_window_starts_nothing_and_says_when(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(3)
    source = dovecot_factory(users=users)
    target = dovecot_factory(users=users, master=MASTER)
    fill(source, users, messages=5)
    # a one-hour window three days from now (in UTC, the project's zone): closed now and
    # for the whole run, wherever in the week the test happens to run
    now = dt.datetime.now(dt.UTC)
    day = now + dt.timedelta(days=3)
    closed = Project(tmp_path / "closed", source, target, users,
                     extra=_windows(f"{DAYS[day.weekday()]} 10:00-10:59")).write()
    code, data, errors = _sync(closed)
    assert code == 1, errors
    assert data["mailboxes"] == {} and sorted(data["not_started"]) == [u.name for u in users]
    assert data["next_window"] == day.strftime("%Y-%m-%dT10:00+00:00")
    # the same said to a person, on stderr
    told = subprocess.run([*MAILFERRY, "sync", str(closed.toml)], capture_output=True,
                          text=True, timeout=180)
    assert told.returncode == 1
    assert f"3 mailboxes not started; the next window opens {data['next_window']}" in " ".join(
        told.stderr.split())
    for user in users:  # nothing reached the target
        assert not any(snapshot(target.host, target.port, user.name, user.password).values())

    # the same project inside a window (all day, every day) copies everything
    opened = Project(tmp_path / "open", source, target, users,
                     extra=_windows("Daily 00:00-23:59")).write()
    code, data, errors = _sync(opened)
    assert code == 0, errors
    assert data["not_started"] == [] and data["next_window"] is None
    assert {u: o["status"] for u, o in data["mailboxes"].items()} == {  # type: ignore[union-attr]
        u.name: "synced" for u in users}
    for user in users:
        assert_migrated(source, target, user)
