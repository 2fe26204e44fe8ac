"""Runs that start at one instant on a state file that does not exist yet all open it. The
first connection of each turns the new file to WAL; SQLite answers "database is locked" at
once, without its busy wait, to one that asks while another holds a lock on a file not yet
in WAL, and two `copy` runs on one new state file failed that way (1 in 2 tries here). Two
processes open 25 new files, each at an instant both wait for, spinning (a sleep would
spread them over milliseconds and hide the race)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from mailferry.store.revision import HEAD

OPEN_EACH_AT = """
import sys, time
from mailferry.store import StateStore
first, step, paths = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
for n, path in enumerate(paths):
    while time.time() < first + n * step:  # both processes open this file at this instant
        pass
    StateStore.open(path).close()
"""
FILES = 25


def test_two_runs_open_each_of_25_new_state_files_at_the_same_instant(tmp_path: Path) -> None:
    paths = [str(tmp_path / f"state{n}.db") for n in range(FILES)]
    first = time.time() + 3  # both interpreters up and their imports done
    runs = [subprocess.Popen([sys.executable, "-c", OPEN_EACH_AT, str(first), "0.12", *paths],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
    for path in paths:
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
                (HEAD,)]  # made once, at the head
