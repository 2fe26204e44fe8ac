"""The project's state database (a SQLite file, or the PostgreSQL database many machines
share), opened the same way by each of its tables' owners (ProjectState, MonitorState): one
connection guarded by a lock, the schema brought to the current revision (store.upgrade:
a new database made at the head, an older one upgraded by Alembic; race-free when runs
start together)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from mailferry.store.database import create_engine, parse_location
from mailferry.store.upgrade import prepare


class SqliteFile:
    """Subclasses use their tables (declared in store/tables.py, made by store.upgrade)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._conn = engine.connect()

    @classmethod
    def open(cls, location: str | Path | URL) -> Self:
        """`location`: the state file, or a PostgreSQL URL (database.parse_location)."""
        location = parse_location(location)
        engine = create_engine(location)
        prepare(engine, location)
        return cls(engine)

    def close(self) -> None:
        self._conn.close()
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._lock, self._conn.begin():
            yield self._conn
