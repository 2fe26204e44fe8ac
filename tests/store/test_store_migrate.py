"""`mailferry store migrate` into a real PostgreSQL (password-protected, on 127.0.0.1): every
row arrives; a target that holds a state is refused unless --replace; a migrate killed
midway leaves a target that every run refuses, until the migrate is run again."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from mailferry.errors import StateError
from mailferry.store import ProjectState, StateStore, parse_location
from testbed.postgres import Postgres
from testbed.storekit import dump

pytestmark = pytest.mark.slow  # state moved to PostgreSQL: `make test-slow`

MAIN_STATE = Path(__file__).parent / "data" / "main_0b77f16_state.db"


def mailferry(*args: str, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def with_password(url: str, server: Postgres) -> str:
    return url.replace("postgres@", f"postgres:{server.password}@").replace(
        "postgresql://", "postgresql+psycopg://")


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    shutil.copy(MAIN_STATE, path)
    return path


def test_every_row_arrives_and_a_filled_target_is_refused(
        secured_postgres: Postgres, state_file: Path) -> None:
    url = secured_postgres.new_database()
    env = {"MAILFERRY_STORE_PASSWORD": secured_postgres.password or ""}
    done = mailferry("store", "migrate", "--from", str(state_file), "--to", url, "--json",
                     env=env)
    assert done.returncode == 0, done.stderr
    assert secured_postgres.password not in done.stdout + done.stderr
    source, target = dump(f"sqlite:///{state_file}"), dump(with_password(url, secured_postgres))
    assert target == source
    assert len(target["messages"]) == 3 * 3 * 59 and len(target["notify_journal"]) == 1

    again = mailferry("store", "migrate", "--from", str(state_file), "--to", url, env=env)
    assert again.returncode == 2
    assert "already holds a state" in again.stderr and "--replace" in again.stderr
    assert dump(with_password(url, secured_postgres)) == source

    # the copy is usable: new rows get new ids (the sequences moved past the copied ones)
    store = StateStore.open(parse_location(with_password(url, secured_postgres)))
    try:
        pair = store.pair_id("imap://new@127.0.0.1:1143", "imap://new@127.0.0.1:2143")
        store.start_folder(pair, b"INBOX", b"INBOX", 1, 1)
    finally:
        store.close()
    replaced = mailferry("store", "migrate", "--from", str(state_file), "--to", url,
                         "--replace", env=env)
    assert replaced.returncode == 0, replaced.stderr
    assert dump(with_password(url, secured_postgres)) == source


def test_a_wrong_password_is_refused_without_showing_it(
        secured_postgres: Postgres, state_file: Path) -> None:
    url = secured_postgres.new_database()
    done = mailferry("store", "migrate", "--from", str(state_file), "--to", url,
                     env={"MAILFERRY_STORE_PASSWORD": "Wrong-Pass-123"})
    assert done.returncode == 2
    assert "password authentication failed" in done.stderr
    assert "Wrong-Pass-123" not in done.stdout + done.stderr
    inline = mailferry("store", "migrate", "--from", str(state_file),
                       "--to", url.replace("postgres@", "postgres:Inline-Pass-9@"))
    assert inline.returncode == 2 and "no password in the URL" in inline.stderr
    assert "Inline-Pass-9" not in inline.stdout + inline.stderr


def big_state(path: Path, rows: int) -> None:
    """The old state plus `rows` copied messages: a migrate that takes a while."""
    shutil.copy(MAIN_STATE, path)
    conn = sqlite3.connect(path)
    folder = conn.execute("SELECT id FROM folders ORDER BY id LIMIT 1").fetchone()[0]
    conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                     ((folder, 1000 + n, n + 5000, f"fp-{n:08d}-" + "x" * 40, "\\Seen",
                       "copied", None) for n in range(rows)))
    conn.commit()
    conn.close()


def marker(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("meta"):
                return None
            found: str | None = conn.execute(sa.text(
                "SELECT value FROM meta WHERE key = 'migrating'")).scalar()
            return found
    finally:
        engine.dispose()


def test_a_killed_migrate_leaves_a_target_no_run_uses_until_it_is_finished(
        secured_postgres: Postgres, tmp_path: Path) -> None:
    state = tmp_path / "big.db"
    big_state(state, 100_000)
    url = secured_postgres.new_database()
    admin = with_password(url, secured_postgres)
    env = {**os.environ, "MAILFERRY_STORE_PASSWORD": secured_postgres.password or ""}
    run = subprocess.Popen([sys.executable, "-m", "mailferry", "store", "migrate", "--from",
                            str(state), "--to", url], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        while marker(admin) is None:
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.kill()
        run.communicate()
    assert run.returncode == -signal.SIGKILL  # killed while copying, not after it finished
    assert marker(admin) is not None
    for opener in (StateStore.open, ProjectState.open):
        with pytest.raises(StateError, match=r"interrupted|half-filled.*store migrate|migrate"):
            opener(parse_location(admin))
    finished = mailferry("store", "migrate", "--from", str(state), "--to", url, "--json",
                         env={"MAILFERRY_STORE_PASSWORD": secured_postgres.password or ""})
    assert finished.returncode == 0, finished.stderr
    assert '"resumed": true' in finished.stdout
    assert dump(admin) == dump(f"sqlite:///{state}")
    assert marker(admin) is None
