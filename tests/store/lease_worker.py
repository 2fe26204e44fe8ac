"""A process that uses the lease API as a run does, driven by tests/store/test_leases.py.

    python lease_worker.py DB count KEY N COUNTER_FILE   N turns at a shared counter file
    python lease_worker.py DB hold KEY TTL [HOST]        hold the lease until killed or lost
                                                         (as a run on machine HOST)
DB is a SQLite state file or a postgresql+psycopg:// URL.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from mailferry.errors import LeaseLost
from mailferry.store import LeaseHolder, LeaseTable, LeaseTimes, StateStore


def open_table(db: str) -> LeaseTable:
    if db.startswith("postgresql"):
        return LeaseTable(sa.create_engine(db))
    return StateStore.open(db).leases


def count(table: LeaseTable, key: str, turns: int, counter: Path) -> int:
    """Each turn under the lease: no one else may be inside (an O_EXCL marker file proves
    it), read the counter, write it + 1."""
    marker = counter.with_name(counter.name + ".inside")
    for _ in range(turns):
        with table.acquire(key, times=LeaseTimes(2.0), wait=True) as lease:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                print("overlap: another process was inside", flush=True)
                return 3
            value = int(counter.read_text() or "0")
            time.sleep(0.002)
            counter.write_text(str(value + 1))
            lease.check()
            os.close(fd)
            os.unlink(marker)
    return 0


def hold(table: LeaseTable, key: str, ttl: float, host: str | None) -> int:
    holder = LeaseHolder(host, os.getpid(), time.time(), "another-boot") if host else None
    lease = table.acquire(key, times=LeaseTimes(ttl), holder=holder, wait=True)
    print(f"held {lease.info.token} {lease.info.lease_id}", flush=True)
    while True:
        try:
            lease.check()
        except LeaseLost as exc:
            print(f"lost: {exc}", flush=True)
            lease.release()
            return 3
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    db, mode, key = argv[:3]
    table = open_table(db)
    if mode == "count":
        return count(table, key, int(argv[3]), Path(argv[4]))
    return hold(table, key, float(argv[3]), argv[4] if len(argv) > 4 else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
