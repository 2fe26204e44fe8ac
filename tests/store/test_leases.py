"""The lease table, with real processes competing, on SQLite and on a real PostgreSQL: the
same code must hold on the one-machine store and on the store many machines share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mailferry.errors import MailboxBusy
from mailferry.store import LeaseHolder, LeaseTable, LeaseTimes, StateStore
from testbed.postgres import Postgres

pytestmark = pytest.mark.slow  # competing processes on SQLite and PostgreSQL: `make test-slow`

WORKER = Path(__file__).with_name("lease_worker.py")
KEY = "imap://alice@127.0.0.1:1143"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "state.db")
        return
    server: Postgres = request.getfixturevalue("postgres")
    name = f"t{os.getpid()}_{time.monotonic_ns()}"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    yield server.url.rsplit("/", 1)[0] + "/" + name


class Opened:
    """Lease tables and worker processes a test opened, closed and ended by the fixture."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.engines: list[sa.Engine] = []
        self.stores: list[StateStore] = []
        self.workers: list[subprocess.Popen[str]] = []

    def table(self) -> LeaseTable:
        if self.database.startswith("postgresql"):
            engine = sa.create_engine(self.database)
            self.engines.append(engine)
            return LeaseTable(engine)
        store = StateStore.open(self.database)
        self.stores.append(store)
        return store.leases

    def worker(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, str(WORKER), self.database, *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.workers.append(process)
        return process

    def close(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
            process.communicate()
        for store in self.stores:
            store.close()
        for engine in self.engines:
            engine.dispose()


@pytest.fixture
def opened(database: str) -> Iterator[Opened]:
    handles = Opened(database)
    yield handles
    handles.close()


def wait_for_line(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} line: {process.stderr.read() if process.stderr else ''}")


def test_one_holder_at_a_time_across_processes(opened: Opened, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    opened.table()  # the table exists before they race (they create it too)
    workers = [opened.worker("count", KEY, "8", str(counter)) for _ in range(4)]
    results = [w.communicate(timeout=240) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], results
    assert counter.read_text() == "32"  # no turn was lost to two processes inside at once


def test_a_silent_holder_on_another_machine_is_taken_over_once_it_expires(
        opened: Opened) -> None:
    holder = opened.worker("hold", KEY, "4", "other-machine")
    wait_for_line(holder, "held")
    holder.kill()  # as if that machine lost power: only the expiry can tell
    holder.wait()
    table = opened.table()
    me = LeaseHolder.this_process()
    won, info = table.try_acquire(KEY, me, 4.0)
    assert not won and info.holder.host == "other-machine"
    with pytest.raises(MailboxBusy, match=r"in progress elsewhere \(other-machine pid "):
        table.acquire(KEY, times=LeaseTimes(4.0))
    with table.acquire(KEY, times=LeaseTimes(4.0), wait=True) as lease:
        assert lease.info.token == info.token + 1 and lease.info.holder == me
        current = table.current(KEY)
        assert current is not None and current.lease_id == lease.info.lease_id
    assert table.current(KEY) is None  # released


def test_a_dead_holder_on_this_machine_is_taken_over_at_once(opened: Opened) -> None:
    holder = opened.worker("hold", KEY, "3600")
    wait_for_line(holder, "held")
    holder.kill()
    holder.wait()  # its process is gone: no need to wait an hour
    table = opened.table()
    with table.acquire(KEY, times=LeaseTimes(30.0)) as lease:
        assert lease.info.token == 2
    # a live one is not taken, however long ago it started
    alive = opened.worker("hold", KEY, "3600")
    wait_for_line(alive, "held")
    with pytest.raises(MailboxBusy, match=rf"pid {alive.pid}"):
        table.acquire(KEY, times=LeaseTimes(30.0))


def _stop_outside_a_transaction(process: subprocess.Popen[str], table: LeaseTable) -> None:
    """SIGSTOP, unless that froze it inside a transaction on the lease (its lock would block
    everyone else until it runs again, as in real life): then let it go on and retry."""
    is_sqlite = table.engine.dialect.name == "sqlite"
    for _ in range(50):
        os.kill(process.pid, signal.SIGSTOP)
        try:
            with table.engine.begin() as conn:
                conn.execute(sa.text("PRAGMA busy_timeout=300" if is_sqlite
                                     else "SET LOCAL lock_timeout = '300ms'"))
                conn.execute(sa.text("UPDATE leases SET token = token WHERE key = :k"),
                             {"k": KEY})
            return
        except sa.exc.OperationalError:
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.05)
    raise AssertionError("the holder was always inside a transaction")


def test_a_paused_holder_finds_its_lease_taken_and_stops(opened: Opened) -> None:
    holder = opened.worker("hold", KEY, "2")
    wait_for_line(holder, "held")
    table = opened.table()
    _stop_outside_a_transaction(holder, table)
    deadline = time.monotonic() + 60
    while table.current(KEY) is not None:  # frozen: no heartbeat, so it expires
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with table.acquire(KEY, times=LeaseTimes(2.0)) as lease:
        os.kill(holder.pid, signal.SIGCONT)
        line = wait_for_line(holder, "lost")
        assert "lease lost" in line
        assert holder.wait(timeout=30) == 3
        current = table.current(KEY)  # its heartbeat did not take it back
        assert current is not None and current.lease_id == lease.info.lease_id
        lease.check()  # still ours


def test_only_the_holder_renews_or_releases(opened: Opened) -> None:
    table = opened.table()
    won, info = table.try_acquire(KEY, LeaseHolder.this_process(), 30.0)
    assert won
    assert not table.renew(KEY, "someone-else", 30.0)
    assert not table.release(KEY, "someone-else")
    again, same = table.try_acquire(KEY, LeaseHolder("elsewhere", 1, 0.0), 30.0)
    assert not again and same.lease_id == info.lease_id  # live: nobody takes it
    assert table.renew(KEY, info.lease_id, 30.0)
    assert table.release(KEY, info.lease_id)
    assert table.current(KEY) is None
    won, _ = table.try_acquire(KEY, LeaseHolder("elsewhere", 1, 0.0), 30.0)
    assert won
