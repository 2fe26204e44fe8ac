"""Leases: at most one run writes a target mailbox at a time, across processes and machines.

The table lives in the state database (SQLite on one machine, PostgreSQL for many), written
with SQLAlchemy Core only, so both use this same code:

    leases
      key             the target mailbox, "imap://user@host:port" (never a secret)   primary key
      lease_id        random id of one acquisition (two lanes of one run exclude each other)
      host, pid       who holds it, for "in progress elsewhere (host pid ...)"
      machine         the holder's boot id: tells a holder on this very machine
      run_started_at  when the holding run started (its own wall clock)
      token           +1 at every acquisition: a fencing number for whoever wants one
      acquired_at     database clock, epoch seconds
      expires_at      database clock; renewed by the holder's heartbeat

Every change is one conditional statement in its own transaction (compare-and-set), so two
runs can never both win:
  acquire  UPDATE ... WHERE key=k AND expires_at < now, else INSERT (the primary key turns
           away a second INSERT: the loser sees an IntegrityError and reads the holder)
  renew    UPDATE ... SET expires_at = now + ttl WHERE key=k AND lease_id=mine
  release  DELETE ... WHERE key=k AND lease_id=mine
"now" is the database's clock (`db_now`), so machines whose clocks disagree still agree on
when a lease expired. A killed run (SIGKILL, power cut) stops renewing: its lease expires
after `ttl` seconds of silence and the next run takes it over. A holder on this machine
(same host name and boot id) whose process is gone is known dead at once: its lease is
taken over without waiting (compare-and-set on its lease_id).

The holder side (`HeldLease`) renews every ttl/5 seconds in a thread and stops trusting its
lease ttl*2/3 after the last renewal began, well before anyone else may take it: `check()`,
called before every write to the mailbox, then raises LeaseLost.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import CompileError, DBAPIError, IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mailferry.errors import LeaseLost, MailboxBusy, StateError
from mailferry.store.schema import create_tables
from mailferry.store.tables import leases

log = logging.getLogger("mailferry.leases")



class db_now(FunctionElement[float]):
    """The database server's clock in epoch seconds (float)."""

    type = sa.Float()
    inherit_cache = True


@compiles(db_now, "sqlite")
def _sqlite_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"  # millisecond resolution


@compiles(db_now, "postgresql")
def _postgresql_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(db_now)
def _other_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"leases: no clock function for {compiler.dialect.name}")


@dataclass(frozen=True)
class LeaseTimes:
    """`ttl`: seconds of silence after which a lease is free for others."""

    ttl: float = 30.0

    @property
    def heartbeat(self) -> float:
        return self.ttl / 5

    @property
    def trusted(self) -> float:
        """How long after a renewal began the holder still writes: a margin of ttl/3 for a
        write in flight and for a heartbeat that came late."""
        return self.ttl * 2 / 3


@dataclass(frozen=True)
class LeaseHolder:
    """This run, as others see it in "in progress elsewhere"."""

    host: str
    pid: int
    run_started_at: float
    machine: str = ""  # boot id; "" where the system has none

    @classmethod
    def this_process(cls) -> LeaseHolder:
        return _THIS_PROCESS

    def is_dead_here(self) -> bool:
        """True only if it ran on this machine and its process is gone (a pid reused by
        another process counts as alive: then the lease expires as usual)."""
        here = _THIS_PROCESS
        if not self.machine or (self.host, self.machine) != (here.host, here.machine):
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        try:  # a zombie (killed, not yet reaped by its parent) is dead too
            with open(f"/proc/{self.pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


_THIS_PROCESS = LeaseHolder(socket.gethostname(), os.getpid(), time.time(), _boot_id())


@dataclass(frozen=True)
class LeaseInfo:
    key: str
    lease_id: str
    holder: LeaseHolder
    token: int
    acquired_at: float
    expires_at: float

    def describe(self) -> str:
        started = dt.datetime.fromtimestamp(self.holder.run_started_at).isoformat(
            sep=" ", timespec="seconds")
        return f"{self.holder.host} pid {self.holder.pid}, a run started {started}"


def _info(row: sa.Row[Any]) -> LeaseInfo:
    holder = LeaseHolder(row.host, row.pid, row.run_started_at, row.machine)
    return LeaseInfo(row.key, row.lease_id, holder, int(row.token), float(row.acquired_at),
                     float(row.expires_at))


def mailbox_lease_key(target_url: str) -> str:
    """The lease key of a target mailbox: its `imap://user@host:port` (ServerURL's str)."""
    return target_url


class LeaseTable:
    """The leases of one state database. Give it an engine of its own (not the copy state's
    single connection): a heartbeat must not wait behind the copy's transactions."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            create_tables(conn, [leases])

    # -- one compare-and-set transaction each ---------------------------------------------

    def try_acquire(self, key: str, holder: LeaseHolder, ttl: float) -> tuple[bool, LeaseInfo]:
        """(True, our new lease) if it was free, expired or its holder died on this machine;
        else (False, the holder's)."""
        lease_id = uuid.uuid4().hex
        values = dict(lease_id=lease_id, host=holder.host, pid=holder.pid,
                      machine=holder.machine, run_started_at=holder.run_started_at,
                      acquired_at=db_now(), expires_at=db_now() + ttl)
        with self.engine.begin() as conn:
            current = self._row(conn, key)
        while True:
            # the write is the whole transaction: the WHERE clause is the compare-and-set
            # (and SQLite never has to turn a read transaction into a write one)
            try:
                with self.engine.begin() as conn:
                    if current is None:
                        conn.execute(leases.insert().values(key=key, token=1, **values))
                    else:
                        free = leases.c.expires_at < db_now()
                        if current.holder.is_dead_here():
                            free = free | (leases.c.lease_id == current.lease_id)
                        conn.execute(leases.update().where(leases.c.key == key, free)
                                     .values(token=leases.c.token + 1, **values))
            except IntegrityError:
                pass  # another run inserted it first: it holds the lease
            with self.engine.begin() as conn:
                current = self._row(conn, key)
            if current is not None:  # else released between two transactions: again
                return current.lease_id == lease_id, current

    def renew(self, key: str, lease_id: str, ttl: float) -> bool:
        """False once the lease is no longer ours (expired and taken, or released)."""
        with self.engine.begin() as conn:
            done = conn.execute(leases.update().where(
                leases.c.key == key, leases.c.lease_id == lease_id,
            ).values(expires_at=db_now() + ttl))
        return done.rowcount == 1

    def release(self, key: str, lease_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(leases.delete().where(leases.c.key == key,
                                                      leases.c.lease_id == lease_id))
        return done.rowcount == 1

    def current(self, key: str) -> LeaseInfo | None:
        """Who holds `key`, if anyone holds it now (an expired row counts as free)."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(leases).where(
                leases.c.key == key, leases.c.expires_at >= db_now())).first()
        return _info(row) if row is not None else None

    def held(self) -> list[LeaseInfo]:
        """Every lease held now (for status pages and tests)."""
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(leases).where(leases.c.expires_at >= db_now())
                                .order_by(leases.c.key)).all()
        return [_info(row) for row in rows]

    @staticmethod
    def _row(conn: sa.Connection, key: str) -> LeaseInfo | None:
        row = conn.execute(sa.select(leases).where(leases.c.key == key)).first()
        return _info(row) if row is not None else None

    # -- what a run uses -------------------------------------------------------------------

    def acquire(self, key: str, *, times: LeaseTimes = LeaseTimes(),
                holder: LeaseHolder | None = None, wait: bool = False,
                stop: threading.Event | None = None) -> HeldLease:
        """Take the lease on `key` and keep it alive until released. Held by another run:
        MailboxBusy, or with `wait` poll until it is released or expires (`stop` ends the
        wait with MailboxBusy)."""
        holder = holder or LeaseHolder.this_process()
        stop = stop or threading.Event()
        while True:
            started = time.monotonic()
            try:
                won, info = self.try_acquire(key, holder, times.ttl)
            except DBAPIError as exc:
                raise StateError(f"cannot take the lease on {key}: {exc.orig}") from None
            if won:
                return HeldLease(self, info, times, started)
            if not wait or stop.wait(min(0.5, times.heartbeat)):
                raise MailboxBusy(f"{key}: in progress elsewhere ({info.describe()})",
                                  holder=info.describe(), same_run=info.holder == holder)


class HeldLease:
    """A lease this run holds; a heartbeat thread renews it until `release()`.

    `check()` is the write guard: the IMAP session calls it before each piece of a command
    that changes the mailbox, and it raises LeaseLost once the lease is gone or can no
    longer be trusted (no renewal for ttl*2/3). `lost` is set at that moment too, so a
    runner can stop starting new work at once.
    """

    def __init__(self, table: LeaseTable, info: LeaseInfo, times: LeaseTimes,
                 renewed_at: float) -> None:
        self.table = table
        self.info = info
        self.times = times
        self.lost = threading.Event()
        self._why = ""
        self._trusted_until = renewed_at + times.trusted
        self._released = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                        name=f"lease-heartbeat {info.key}")
        self._thread.start()

    @property
    def key(self) -> str:
        return self.info.key

    def check(self) -> None:
        if not self.lost.is_set() and time.monotonic() > self._trusted_until:
            self._lose(f"not renewed for {self.times.trusted:.0f} s")
        if self.lost.is_set():
            raise LeaseLost(f"{self.key}: lease lost ({self._why}): another run may be "
                            "writing this mailbox; stopped writing it")

    def _lose(self, why: str) -> None:
        if not self.lost.is_set():
            self._why = why
            self.lost.set()
            log.warning("lease on %s lost: %s", self.key, why)

    def _heartbeat(self) -> None:
        while not self._released.wait(self.times.heartbeat):
            if self.lost.is_set():
                return
            started = time.monotonic()
            try:
                renewed = self.table.renew(self.key, self.info.lease_id, self.times.ttl)
            except DBAPIError as exc:  # a busy or unreachable database: try again soon
                log.info("lease on %s not renewed: %s", self.key, exc.orig)
                continue
            if not renewed:
                holder = self.table.current(self.key)
                self._lose("taken over by " + (holder.describe() if holder else "another run"))
                return
            self._trusted_until = started + self.times.trusted

    def release(self) -> None:
        if self._released.is_set():
            return
        self._released.set()
        self._thread.join()
        if not self.lost.is_set():
            try:
                self.table.release(self.key, self.info.lease_id)
            except DBAPIError as exc:  # it expires on its own
                log.warning("lease on %s not released: %s", self.key, exc.orig)

    def __enter__(self) -> HeldLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
