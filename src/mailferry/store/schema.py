"""Statements whose spelling differs between SQLite and PostgreSQL, written once: creating
tables when runs that start together race on a new database, insert-or-ignore, upsert."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite


def create_tables(conn: sa.Connection, tables: Iterable[sa.Table]) -> None:
    """CREATE TABLE IF NOT EXISTS for each table: one atomic statement per table, where
    `create_all`'s look-then-create lets two runs both decide to create it."""
    for table in tables:
        conn.execute(sa.schema.CreateTable(table, if_not_exists=True))


def _dialect(conn: sa.Connection) -> Any:
    if conn.dialect.name == "postgresql":
        # imported only here: ~35 ms of every SQLite run's start-up otherwise
        from sqlalchemy.dialects import postgresql

        return postgresql
    return sqlite


def insert_ignoring(conn: sa.Connection, table: sa.Table) -> Any:
    """INSERT that leaves an existing row (same primary or unique key) as it is."""
    return _dialect(conn).insert(table).on_conflict_do_nothing()


def upsert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT, replacing the row of the same primary key (SQLite's INSERT OR REPLACE)."""
    if not rows:
        return
    statement = _dialect(conn).insert(table)
    keys = [column.name for column in table.primary_key]
    statement = statement.on_conflict_do_update(index_elements=keys, set_={
        name: statement.excluded[name] for name in rows[0] if name not in keys})
    conn.execute(statement, list(rows))
