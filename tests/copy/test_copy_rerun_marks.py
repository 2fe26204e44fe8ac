"""Issue 16: a no-change re-run of `mailferry copy` decides from LIST and STATUS on each side
against the marks the state file holds, read with the standard library's sqlite3: it imports
neither SQLAlchemy nor Alembic (their import took longer than the whole re-run over a 50 ms
link), takes no lease and writes nothing. Anything that changed sends it the whole way, with
the lease, as before."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from mailferry.store import StateStore
from testbed import Dovecot, imap_login, seed
from testbed.copykit import mailbox
from testbed.messages import sample_mailbox

FOLDERS = ["INBOX", "Work", "Work/Clients", "Archive"]
RunResult = subprocess.CompletedProcess[str]
# runs the real CLI and writes the modules it imported to the file named first
MODULES_REPORTER = """
import atexit, runpy, sys
out = sys.argv.pop(1)
names = lambda: " ".join(sorted(sys.modules))
atexit.register(lambda: open(out, "w").write(names()))
runpy.run_module("mailferry", run_name="__main__", alter_sys=True)
"""


def _copy(source: Dovecot, target: Dovecot, state: Path, modules: Path) -> RunResult:
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": source.password(),
           "MAILFERRY_TARGET_PASSWORD": target.password()}
    for forcing in ("TTY_COMPATIBLE", "FORCE_COLOR"):  # (they would let rich decide: loaded)
        env.pop(forcing, None)
    return subprocess.run([sys.executable, "-c", MODULES_REPORTER, str(modules), "copy",
                           source.url(), target.url(), "--state", str(state), "--json",
                           "--exclude", "Archive", "--log-file", str(modules) + ".log"],
                          capture_output=True, text=True, env=env, timeout=300)


def _copied(source: Dovecot, target: Dovecot, tmp_path: Path,
            ) -> tuple[Path, Path, RunResult]:
    """A first copy of a small mailbox: (state file, modules file, its run)."""
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, sample_mailbox(40, FOLDERS))
    conn.logout()
    state, modules = tmp_path / "state.db", tmp_path / "modules"
    first = _copy(source, target, state, modules)
    assert first.returncode == 0, first.stderr
    return state, modules, first


def _while_held(target: Dovecot, state: Path, run: Callable[[], RunResult]) -> RunResult:
    """`run` while another run holds the target's lease."""
    store = StateStore.open(state)
    try:
        elsewhere = store.leases.acquire(target.url())
        try:
            return run()
        finally:
            elsewhere.release()
    finally:
        store.close()


def _loaded(modules: Path) -> set[str]:
    """The modules a run imported, and their top-level packages."""
    names = set(modules.read_text().split())
    return names | {name.split(".")[0] for name in names}


# the copying half of the engine: a no-change re-run has no use for it (each module is
# start-up time: most of such a re-run's)
COPYING = {"mailferry.engine.sync", "mailferry.engine.appender", "mailferry.engine.matcher"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_no_change_rerun_loads_no_database_library_takes_no_lease_writes_nothing(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    state, modules, first = _copied(source, target, tmp_path)
    loaded = _loaded(modules)
    assert "sqlalchemy" in loaded and loaded >= COPYING  # the first run needs them
    assert "rich" not in loaded, "no bars to draw on a pipe, yet rich was imported"
    before = _digest(state)
    rerun = _while_held(target, state, lambda: _copy(source, target, state, modules))
    assert rerun.returncode == 0, rerun.stderr
    loaded = _loaded(modules)
    assert "alembic" not in loaded and "rich" not in loaded, sorted(loaded)  # (--json)
    # unless a server took longer than SLOW_OPEN to answer (a busy machine): the run then
    # loads the store while it waits, in case there is work (test_copy_examine_ahead.py)
    if "the store loads meanwhile" not in Path(f"{modules}.log").read_text():
        assert "sqlalchemy" not in loaded, sorted(loaded)
        assert not COPYING & loaded, sorted(COPYING & loaded)
    rows = {f["source"]: f["status"] for f in json.loads(rerun.stdout)["folders"]}
    assert rows == {f["source"]: "excluded" if f["source"] == "Archive" else "unchanged"
                    for f in json.loads(first.stdout)["folders"]}
    assert rows["Archive"] == "excluded" and rows["INBOX"] == "unchanged"
    store = StateStore.open(state)
    store.close()
    assert _digest(state) == before  # nothing written (the lease table included)


def test_any_change_since_the_marks_takes_the_whole_way_under_the_lease(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    state, modules, _ = _copied(source, target, tmp_path)
    conn = imap_login(source.host, source.port, "alice", source.password())
    conn.select("Work")
    conn.uid("STORE", "1", "+FLAGS", "(\\Flagged)")  # a flag alone: HIGHESTMODSEQ moves
    conn.logout()
    busy = _while_held(target, state, lambda: _copy(source, target, state, modules))
    assert busy.returncode == 1 and "in progress elsewhere" in busy.stderr, busy.stderr
    rerun = _copy(source, target, state, modules)
    assert rerun.returncode == 0, rerun.stderr
    statuses = {f["source"]: f["status"] for f in json.loads(rerun.stdout)["folders"]}
    assert statuses["Work"] == "synced" and statuses["INBOX"] == "unchanged", statuses
    got, want = mailbox(target), mailbox(source)
    assert {k: v for k, v in got.items() if k != "Archive"} == \
        {k: v for k, v in want.items() if k != "Archive"}


def test_progress_bars_load_only_where_stderr_is_a_terminal(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """A copy with work whose stderr is a pipe imports no rich at all (the test above); the
    same on a terminal loads and draws the bars, and copies as exactly."""
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, sample_mailbox(40, FOLDERS))
    conn.logout()
    modules = tmp_path / "modules"
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": source.password(),
           "MAILFERRY_TARGET_PASSWORD": target.password(), "COLUMNS": "120",
           "TERM": "xterm"}  # (rich draws no live bars on a "dumb" terminal)
    env.pop("TTY_COMPATIBLE", None)
    env.pop("FORCE_COLOR", None)
    main, terminal = pty.openpty()
    drawn = bytearray()
    reader = threading.Thread(target=_drain, args=(main, drawn), daemon=True)
    reader.start()
    try:
        done = subprocess.run([sys.executable, "-c", MODULES_REPORTER, str(modules), "copy",
                               source.url(), target.url(), "--state", str(tmp_path / "s.db"),
                               "--json"], stdout=subprocess.PIPE, stderr=terminal, text=True,
                              env=env, timeout=300)
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(main)
    assert done.returncode == 0, bytes(drawn).decode(errors="replace")
    assert "rich.progress" in _loaded(modules)
    assert json.loads(done.stdout)["totals"]["copied"] == 40
    assert b"msgs" in drawn, bytes(drawn)  # the bars' message count, drawn on the terminal
    assert mailbox(target) == mailbox(source)


def _drain(fd: int, into: bytearray) -> None:
    """Read a terminal's output until it closes (a full pty would block the writer)."""
    with contextlib.suppress(OSError):
        while chunk := os.read(fd, 65536):
            into += chunk
