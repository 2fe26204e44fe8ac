"""Where the state lives and how it is reached: a SQLite file on one machine, or a
PostgreSQL database (through psycopg 3) that many machines share. Every table owner opens
its engine here, so both backends get the same settings and the same error words.

A location is a path (the file) or a SQLAlchemy URL. A URL may carry the password (resolved
from `[sync] store_password`, or left to libpq's PGPASSWORD / ~/.pgpass): SQLAlchemy's URL
prints it as ***, and `describe` never shows it, so it reaches no log, error or report.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from mailferry.errors import StateError

StoreLocation = Path | URL


def parse_location(text: str | Path | URL) -> StoreLocation:
    """A path, or a `postgresql://` URL (written with or without `+psycopg`)."""
    if isinstance(text, URL | Path):
        return text if isinstance(text, Path) or text.drivername != "postgresql" else \
            text.set(drivername="postgresql+psycopg")
    if "://" not in text:
        return Path(text)
    try:
        url = make_url(text)
    except sa.exc.ArgumentError:
        raise StateError(f"{_mask(text)}: not a database URL") from None
    if url.get_backend_name() != "postgresql":
        raise StateError(f"{describe_location(url)}: only postgresql:// databases are supported")
    return url.set(drivername="postgresql+psycopg")


def _mask(text: str) -> str:
    scheme, _, rest = text.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}" if "@" in rest else text


def describe_location(location: StoreLocation) -> str:
    """For messages: the path, or postgresql://user@host:port/db (never the password)."""
    if isinstance(location, Path):
        return str(location)
    shown = URL.create(location.get_backend_name(), location.username, None, location.host,
                       location.port, location.database)
    return shown.render_as_string(hide_password=True)


def is_shared(location: StoreLocation) -> bool:
    """A database server (many machines) rather than a file (one machine)."""
    return isinstance(location, URL)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL + NORMAL survives kill -9 of the process (not a power cut mid-commit, which only
    # loses the last commits: then the target inventory finds the copies again)
    _journal_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _journal_wal(cursor: Any, patience: float = 30.0) -> None:
    """WAL mode. Runs that start together on a new file all convert it, and SQLite answers
    "database is locked" at once, without its busy wait, to a connection that asks while
    another holds a lock on a file not yet in WAL: two `copy` runs on one new state file
    failed that way (tests/store/test_new_file_together.py). So ask again until the file
    is in WAL, for as long as the busy timeout would have waited."""
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def sqlite_engine(url: str, *, single: bool) -> sa.Engine:
    """`single`: one connection shared by the owner's threads under its lock."""
    pool: dict[str, Any] = {"poolclass": sa.pool.StaticPool} if single else {}
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                              **pool)
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_engine(location: StoreLocation, *, single: bool = True) -> sa.Engine:
    """An engine on the location. A file's directory must exist (a missing one is a typo,
    not a wish to create it); a server is not contacted until the first statement."""
    if isinstance(location, Path):
        if location.parent and not location.parent.exists():
            raise StateError(f"{location}: directory {location.parent} does not exist")
        return sqlite_engine(f"sqlite:///{location}", single=single)
    # a small pool per owner: its transactions are short; pre-ping survives a restarted
    # server between two passes
    return sa.create_engine(location, pool_pre_ping=True, pool_size=2, max_overflow=4,
                            connect_args={"connect_timeout": 10,
                                          "application_name": "mailferry"})


def unusable(location: StoreLocation, exc: sa.exc.DBAPIError | sa.exc.DatabaseError) -> StateError:
    """The one error for a store that cannot be opened, in the driver's words (which name
    the host and user, never the password)."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if isinstance(location, Path):
        return StateError(f"{location}: not a usable state database ({reason})")
    return StateError(f"{describe_location(location)}: cannot use the state database ({reason})")
