"""Many mailboxes against real Dovecot servers: the target is reached through its master
user; everything is read back over IMAP (bytes, flags, dates, counts: no duplicates)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import MAILFERRY, Dovecot, FaultProxy
from testbed.projectkit import (
    MASTER,
    EventLog,
    Project,
    add_new_mail,
    assert_migrated,
    fill,
    org_users,
    run_batch,
)

pytestmark = pytest.mark.slow  # batches under SIGTERM, windows, cut links: `make test-slow`


def test_fifty_two_mailboxes_while_one_source_server_cuts_connections(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    flaky_users, steady_users = org_users(26, "a"), org_users(26, "b")
    flaky = dovecot_factory(users=flaky_users)
    steady = dovecot_factory(users=steady_users)
    target = dovecot_factory(users=flaky_users + steady_users, master=MASTER)
    fill(flaky, flaky_users, messages=10)
    fill(steady, steady_users, messages=10, seed_base=100)
    with FaultProxy(flaky.host, flaky.port) as proxy:
        for skip in (1, 4, 9, 15, 22, 30):  # mid-login, mid-FETCH: a mix of both
            proxy.cut_after(down=600 + 40 * skip, skip_connections=skip)
        flaky_project = Project(tmp_path / "a", flaky, target, flaky_users,
                                source_port=proxy.port).write()
        steady_project = Project(tmp_path / "b", steady, target, steady_users).write()
        results = {}

        def run(name: str, project: Project) -> None:
            results[name] = run_batch(project.toml)

        threads = [threading.Thread(target=run, args=item)
                   for item in (("flaky", flaky_project), ("steady", steady_project))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert proxy.cuts_done >= 3
    for name in ("flaky", "steady"):
        outcomes = results[name].outcomes
        assert {o.status for o in outcomes.values()} == {"synced"}, [
            (user, o.status, o.error) for user, o in outcomes.items() if o.status != "synced"]
        assert results[name].exit_status == 0 and len(outcomes) == 26
    for user in flaky_users:
        assert_migrated(flaky, target, user)
    for user in steady_users:
        assert_migrated(steady, target, user)


def test_sigterm_mid_wave_then_rerun_completes_without_duplicates(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(12)
    source = dovecot_factory(users=users)
    target = dovecot_factory(users=users, master=MASTER)
    fill(source, users, messages=30, sizes=(4000, 40000))
    project = Project(tmp_path, source, target, users, extra="mailboxes = 2\nworkers = 1\n",
                      waves={u.name: "w1" for u in users}).write()
    args = [*MAILFERRY, "sync", str(project.toml), "--wave", "w1", "--json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as first:
        assert first.stderr is not None and first.stdout is not None
        for line in first.stderr:  # SIGTERM once the first mailbox is done: mid-wave
            if ": synced," in line:
                first.send_signal(signal.SIGTERM)
                break
        rest = first.stderr.read()
        report = json.loads(first.stdout.read())
        assert first.wait(timeout=60) == 1, rest
    assert "SIGTERM" in rest and report["interrupted"]
    synced = [u for u, o in report["mailboxes"].items() if o["status"] == "synced"]
    assert 1 <= len(synced) < len(users)
    assert report["not_started"], report

    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert all(again["mailboxes"][u]["copied"] == 0 for u in synced)  # nothing twice
    for user in users:
        assert_migrated(source, target, user)

    # a delta pass: only what arrived since is copied
    add_new_mail(source, users[3], 4, seed_value=42)
    delta = subprocess.run([*args, "--user", users[3].name], capture_output=True, text=True,
                           timeout=120)
    assert delta.returncode == 0, delta.stderr
    counts = {u: o["copied"] for u, o in json.loads(delta.stdout)["mailboxes"].items()}
    assert counts[users[3].name] == 4 and sum(counts.values()) == 4
    assert_migrated(source, target, users[3])


def _clock(start: dt.datetime) -> tuple[Callable[[], dt.datetime], Callable[[dt.datetime], None]]:
    now = [start]
    return (lambda: now[0]), (lambda moment: now.__setitem__(0, moment))


WINDOWED = """
[migration]
name = "acme"
domains = ["acme.example"]
timezone = "Europe/Berlin"
cutover = 2026-12-12T20:00:00
windows = ["Mon-Fri 20:00-23:59"]
"""
MONDAY_2130 = dt.datetime(2026, 12, 14, 20, 30, tzinfo=dt.UTC)  # 21:30 in Berlin


def test_a_closing_window_pauses_mailboxes_and_says_when_the_next_opens(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(6)
    source = dovecot_factory(users=users)
    target = dovecot_factory(users=users, master=MASTER)
    fill(source, users, messages=40)
    project = Project(tmp_path, source, target, users,
                      extra="mailboxes = 2\nworkers = 1\n" + WINDOWED).write()
    clock, set_clock = _clock(MONDAY_2130)
    closes = threading.Event()

    def close_window() -> None:  # after the first folder anywhere: midnight has come
        if not closes.is_set():
            closes.set()
            set_clock(MONDAY_2130 + dt.timedelta(hours=3))

    first = run_batch(project.toml, EventLog(on_folder=close_window), clock=clock)
    paused = [u for u, o in first.outcomes.items() if o.status == "paused"]
    assert 1 <= len(paused) <= 2 and len(first.not_started) >= 4
    assert first.next_window == "2026-12-15T20:00+01:00" and first.exit_status == 1
    statuses = {user: {f["status"] for f in first.outcomes[user].folders} for user in paused}
    assert all("paused" in s for s in statuses.values())  # the others wait for the window
    # the folder that was in progress finished (a mailbox still listing its folders when the
    # window closed has none in progress: all of its folders wait)
    assert any(s & {"synced", "unchanged"} for s in statuses.values())

    # (the real `mailferry sync` outside a window: tests/batch/test_sync_windows_cli.py)

    # --wait-for-window: 1.5 s before the next window, waits, then finishes everything
    opens = dt.datetime(2026, 12, 15, 19, 0, tzinfo=dt.UTC)
    began = time.monotonic()
    log = EventLog()
    second = run_batch(project.toml, log, wait_for_window=True, clock=lambda: opens - dt.timedelta(
        seconds=1.5) + dt.timedelta(seconds=time.monotonic() - began))
    assert time.monotonic() - began >= 1.4
    assert set(log.waited) == {"2026-12-15T20:00+01:00"}  # once per lane
    assert {o.status for o in second.outcomes.values()} == {"synced"} and second.exit_status == 0
    for user in users:
        assert_migrated(source, target, user)
