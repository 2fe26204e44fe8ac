"""One SQLite file of the project's state, opened the same way by each of its tables' owners
(ProjectState, MonitorState): one connection guarded by a lock, WAL shared with the copy
state, tables created race-free (runs may start together on a new file)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailferry.errors import StateError
from mailferry.store.schema import create_tables


def _pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # shares the file with the copy state
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class SqliteFile:
    """Subclasses name their tables in `METADATA` and may add `_after_create`."""

    METADATA: tuple[sa.MetaData, ...] = ()

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._conn = engine.connect()

    @classmethod
    def open(cls, path: str | Path) -> Self:
        path = Path(path)
        if not path.parent.exists():
            raise StateError(f"{path}: directory {path.parent} does not exist")
        engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.StaticPool,
                                  connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _pragmas)
        try:
            state = cls(engine)
            with state._tx() as conn:
                for metadata in cls.METADATA:
                    create_tables(conn, metadata)
                state._after_create(conn)
        except sa.exc.DatabaseError as exc:
            raise StateError(f"{path}: not a usable state database ({exc.orig})") from None
        return state

    def _after_create(self, conn: Connection) -> None:
        """Indexes and the like, inside the creating transaction."""

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
