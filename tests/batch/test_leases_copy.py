"""`mailferry copy` takes the lease on its target mailbox: a run that finds it held exits 1
("in progress elsewhere") or waits with --wait; two runs on one pair never duplicate."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from mailferry.store import StateStore
from testbed import MAILFERRY, Dovecot, imap_login, seed, snapshot
from testbed.messages import sample_mailbox

FOLDERS = ["INBOX", "Work", "Work/Clients", "Archive"]


def _env(source: Dovecot, target: Dovecot) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1",
            "MAILFERRY_SOURCE_PASSWORD": source.password(),
            "MAILFERRY_TARGET_PASSWORD": target.password()}


def _copy(source: Dovecot, target: Dovecot, state: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*MAILFERRY, "copy", source.url(), target.url(), "--state",
                             str(state), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(source, target))


def _fill(server: Dovecot, count: int) -> None:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        seed(conn, sample_mailbox(count, FOLDERS, sizes=(2000, 30000)))
    finally:
        conn.logout()


def _box(server: Dovecot) -> dict[str, object]:
    box = snapshot(server.host, server.port, "alice", server.password())
    return {name: folder for name, folder in box.items() if folder}


def test_copy_into_a_mailbox_another_run_holds_exits_1_or_waits(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source, target = dovecot_factory(), dovecot_factory()
    _fill(source, 40)
    state = tmp_path / "state.db"
    store = StateStore.open(state)
    try:
        elsewhere = store.leases.acquire(target.url())
        refused = _copy(source, target, state)
        out, err = refused.communicate(timeout=120)
        assert refused.returncode == 1, (out, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("mailferry: error:"), err
        assert "in progress elsewhere" in err and f"pid {os.getpid()}" in err
        assert _box(target) == {}  # not one write

        waiting = _copy(source, target, state, "--wait")
        assert waiting.stderr is not None
        for line in waiting.stderr:
            if "waiting for it" in line:
                break
        elsewhere.release()
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err
    finally:
        store.close()
    assert _box(target) == _box(source)


def test_two_copy_runs_on_one_pair_never_duplicate(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source, target = dovecot_factory(), dovecot_factory()
    state = tmp_path / "state.db"
    for _ in range(2):  # on a new state file (both create its tables), then on the same one
        _fill(source, 150)
        runs = [_copy(source, target, state, "--workers", "2") for _ in range(2)]
        results = [(run.communicate(timeout=240), run.returncode) for run in runs]
        for (_, err), code in results:
            assert code == 0 or (code == 1 and "in progress elsewhere" in err), err
        assert _box(target) == _box(source)  # each message once (a multiset per folder)
    # with --wait both finish: the second finds everything there already
    _fill(source, 50)
    waiting = [_copy(source, target, state, "--wait") for _ in range(2)]
    assert [run.wait(timeout=240) for run in waiting] == [0, 0]
    for run in waiting:
        run.communicate()
    assert _box(target) == _box(source)
