"""Several `mailferry sync` processes on one project at once (a cron job overlapping a
manual run): each target mailbox is written by one run at a time, under a lease in the state
store. Real processes, real Dovecot; targets read back with imaplib, never with mailferry."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from mailferry.store import StateStore
from testbed import MAILFERRY, Dovecot, DovecotUser, FaultProxy, snapshot
from testbed.projectkit import Project, assert_migrated, fill, org_users, start_pair

pytestmark = pytest.mark.slow  # competing sync processes: `make test-slow`

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _start_sync(project: Project, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*MAILFERRY, "sync", str(project.toml), "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(process: subprocess.Popen[str], timeout: float = 240) -> tuple[int, dict, str]:
    out, err = process.communicate(timeout=timeout)
    try:
        report = json.loads(out) if out.strip() else {}
    except ValueError:
        report = {}
    return process.returncode, report, err


def duplicates(source: Dovecot, target: Dovecot, users: list[DovecotUser]) -> int:
    """Copies in the target beyond what the source holds (per folder and body)."""
    extra = 0
    for user in users:
        want = snapshot(source.host, source.port, user.name, user.password)
        got = snapshot(target.host, target.port, user.name, user.password)
        for name, folder in got.items():
            have = Counter(sha for (sha, _f, _d), n in folder.items() for _ in range(n))
            need = Counter(sha for (sha, _f, _d), n in want.get(name, Counter()).items()
                           for _ in range(n))
            extra += sum((have - need).values())
    return extra


def test_sync_processes_started_together_and_staggered_never_duplicate(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(6)
    source, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=120, sizes=(2000, 30000))
    project = Project(tmp_path, source, target, users,
                      extra="mailboxes = 2\nworkers = 2\n").write()
    runs = [_start_sync(project), _start_sync(project)]  # started together
    for _ in range(3):  # and staggered: a cron job overlapping manual runs
        time.sleep(0.4)
        runs.append(_start_sync(project))
    finished = [_finish(run) for run in runs]
    assert duplicates(source, target, users) == 0
    for user in users:
        assert_migrated(source, target, user)
    statuses = [code for code, _, _ in finished]
    assert set(statuses) <= {0, 1}, [err for _, _, err in finished]
    # a run that met a mailbox being written by another skipped it and said so
    skipped = [err for code, _, err in finished if code == 1]
    assert all("in progress elsewhere" in err for err in skipped), skipped


def _target_key(target: Dovecot, user: DovecotUser) -> str:
    return f"imap://{user.name}@{target.host}:{target.port}"


def _lease_held_by(project: Project, run: subprocess.Popen[str], timeout: float = 300) -> str:
    """The target mailbox `run` holds a lease on, once it holds one (read from the store).
    A run that ends first fails the test with its own words (on a loaded machine the first
    lease can take long: what matters is that it is seen while the run lives)."""
    state = project.root / "state.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        if state.exists():
            store = StateStore.open(state)
            try:
                for lease in store.leases.held():
                    if lease.holder.pid == run.pid:
                        return lease.key
            finally:
                store.close()
        time.sleep(0.05)
    if run.poll() is not None:
        out, err = run.communicate()
        raise AssertionError(f"the run ended (exit {run.returncode}) before its lease was "
                             f"seen: {err[-2000:]}{out[-2000:]}")
    raise AssertionError(f"pid {run.pid} never held a lease")


def _lines_until(process: subprocess.Popen[str], text: str) -> list[str]:
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never said {text!r}: {seen}")


def test_a_mailbox_leased_elsewhere_is_skipped_and_waited_for_with_wait(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(3)
    source, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=20)
    project = Project(tmp_path, source, target, users).write()
    busy, others = users[0], users[1:]
    store = StateStore.open(project.root / "state.db")
    try:
        elsewhere = store.leases.acquire(_target_key(target, busy))  # another run, here
        code, report, err = _finish(_start_sync(project))
        assert code == 1, err
        assert list(report["in_progress_elsewhere"]) == [busy.name]
        assert f"{busy.name}: " in err and "in progress elsewhere" in err
        assert f"pid {os.getpid()}" in err
        assert not any(snapshot(target.host, target.port, busy.name, busy.password).values())
        for user in others:
            assert_migrated(source, target, user)

        waiting = _start_sync(project, "--wait")
        _lines_until(waiting, "waiting for it")
        elsewhere.release()  # the other run ends: the waiting one takes the mailbox
        code, report, err = _finish(waiting)
        assert code == 0, err
        assert report["mailboxes"][busy.name]["status"] == "synced"
    finally:
        store.close()
    for user in users:
        assert_migrated(source, target, user)


def _big_project(dovecot_factory: Callable[..., Dovecot], tmp_path: Path, count: int,
                 ) -> tuple[list[DovecotUser], Dovecot, Dovecot, Project]:
    """Mailboxes big enough to be caught mid-copy, one at a time, with a 3 s lease TTL."""
    users = org_users(count)
    source, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=150, sizes=(2000, 30000))
    project = Project(tmp_path, source, target, users,
                      extra="mailboxes = 1\nworkers = 2\nlease_ttl = 3\n").write()
    return users, source, target, project


def test_the_run_after_a_killed_one_takes_its_mailbox_over(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users, source, target, project = _big_project(dovecot_factory, tmp_path, 3)
    victim = _start_sync(project)
    _lease_held_by(project, victim)
    victim.kill()  # SIGKILL mid-copy: no release, no clean-up
    victim.communicate()
    # its process is gone, on this machine: its lease is free at once (elsewhere: after
    # lease_ttl, see tests/store/test_leases.py)
    code, report, err = _finish(_start_sync(project))
    assert code == 0, err
    assert {m["status"] for m in report["mailboxes"].values()} == {"synced"}
    assert duplicates(source, target, users) == 0
    for user in users:
        assert_migrated(source, target, user)


def test_a_run_paused_mid_append_loses_its_lease_and_writes_nothing_more(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users, source, target, project = _big_project(dovecot_factory, tmp_path, 2)
    with FaultProxy(target.host, target.port) as proxy:
        project.target_port = proxy.port
        project.write()
        paused = _start_sync(project)
        stopped = threading.Event()
        uploaded = [0]

        def freeze_mid_append(chunk: bytes) -> None:  # by traffic, not by the clock
            uploaded[0] += len(chunk)
            if uploaded[0] > 300_000 and not stopped.is_set():
                _stop_outside_a_write(paused, project.root / "state.db")
                stopped.set()

        proxy.on_up = freeze_mid_append
        try:
            assert stopped.wait(120), "the run uploaded nothing"
            proxy.on_up = None
            store = StateStore.open(project.root / "state.db")
            try:
                (held,) = store.leases.held()
                assert held.holder.pid == paused.pid
                deadline = time.monotonic() + 60
                while store.leases.current(held.key) is not None:  # no heartbeat: expires
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            finally:
                store.close()
            code, _, err = _finish(_start_sync(project))  # takes over, copies everything
            assert code == 0, err
        finally:
            os.kill(paused.pid, signal.SIGCONT)
        code, report, err = _finish(paused)
    # it woke up mid-APPEND without its lease: it sent nothing more, that mailbox failed
    assert code == 1, err
    assert "lease lost" in report["mailboxes"][held.key.split("//")[1].split("@")[0]]["error"]
    assert duplicates(source, target, users) == 0
    for user in users:
        assert_migrated(source, target, user)


def _stop_outside_a_write(process: subprocess.Popen[str], state: Path) -> None:
    """SIGSTOP, unless that froze it holding SQLite's write lock (everyone else would wait
    for it, as in real life): then let it go on a moment and try again."""
    for _ in range(100):
        os.kill(process.pid, signal.SIGSTOP)
        probe = sqlite3.connect(state, timeout=0.3)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return
        except sqlite3.OperationalError:
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.03)
        finally:
            probe.close()
    raise AssertionError("always inside a write")
