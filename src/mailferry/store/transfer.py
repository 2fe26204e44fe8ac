"""`mailferry store migrate`: a project's SQLite state copied into PostgreSQL, without loss.

1. Both databases are brought to the current schema revision (the file in place).
2. The source must be quiet: a lease still held there means a run is writing it.
3. The target must be empty, or hold an interrupted migrate, unless `replace` is given.
4. A marker row `meta.migrating` is committed first; from then on every open of the target
   refuses it ("an interrupted store migrate"), so no run can use a half-filled store.
5. One transaction empties the tables, copies every row (streamed, in batches), moves the
   id sequences past the copied ids, checks each table's count against the source and
   removes the marker. A kill anywhere before its commit leaves the marker and no rows: the
   target is unusable and says why, and running the migrate again finishes it.
Leases are not copied: they belong to runs on the old store, which must have ended.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from mailferry.errors import StateError
from mailferry.store.database import create_engine, describe_location, unusable
from mailferry.store.leases import db_now
from mailferry.store.revision import MIGRATING
from mailferry.store.tables import PROJECT, leases, meta_table
from mailferry.store.upgrade import upgrade_schema

BATCH = 5000
meta = meta_table
COPIED = PROJECT  # every table that holds the project's state, parents before children


@dataclass(frozen=True)
class TransferResult:
    rows: dict[str, int]  # table -> rows copied
    resumed: bool  # the target held an interrupted migrate, now finished


def copy_state(source: Path, target: URL, *, replace: bool = False) -> TransferResult:
    """Copy the SQLite state `source` into the PostgreSQL database `target`."""
    if not source.is_file():
        raise StateError(f"{source}: no such state file")
    reader = create_engine(source, single=False)
    writer = create_engine(target, single=False)
    try:
        try:
            upgrade_schema(reader)
        except sa.exc.DBAPIError as exc:
            raise unusable(source, exc) from None
        try:
            upgrade_schema(writer, refuse_unfinished=False)
            resumed = _claim(reader, writer, source, target, replace)
            rows = _fill(reader, writer)
        except sa.exc.DBAPIError as exc:
            raise unusable(target, exc) from None
        return TransferResult(rows, resumed)
    finally:
        reader.dispose()
        writer.dispose()


def _claim(reader: sa.Engine, writer: sa.Engine, source: Path, target: URL,
           replace: bool) -> bool:
    with reader.connect() as conn:
        held = conn.execute(sa.select(sa.func.count()).select_from(leases).where(
            leases.c.expires_at >= db_now())).scalar_one()
    if held:
        raise StateError(f"{source}: {held} mailbox lease(s) still held: a run is using this "
                         "state; let it end (or its leases expire) before migrating")
    with writer.begin() as conn:
        marker = conn.execute(sa.select(meta.c.value).where(
            meta.c.key == MIGRATING)).scalar_one_or_none()
        used = [table.name for table in COPIED if table is not meta
                and conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first()]
        if marker is None and used and not replace:
            raise StateError(f"{describe_location(target)}: already holds a state (tables "
                             f"{', '.join(used[:4])}{', ...' if len(used) > 4 else ''}); "
                             "--replace empties it and copies again")
        conn.execute(meta.delete().where(meta.c.key == MIGRATING))
        conn.execute(meta.insert().values(
            key=MIGRATING, value=f"from {source} at {time.strftime('%Y-%m-%d %H:%M:%S')}"))
    return marker is not None


def _fill(reader: sa.Engine, writer: sa.Engine) -> dict[str, int]:
    rows: dict[str, int] = {}
    with reader.connect() as src, writer.begin() as dst:
        src.exec_driver_sql("BEGIN")  # one read snapshot of the file for every table
        for table in reversed(COPIED):
            if table is meta:
                dst.execute(meta.delete().where(meta.c.key != MIGRATING))
            else:
                dst.execute(table.delete())
        for table in COPIED:
            copied = 0
            result = src.execution_options(yield_per=BATCH).execute(sa.select(table))
            for batch in result.partitions():
                dst.execute(table.insert(), [row._asdict() for row in batch])
                copied += len(batch)
            rows[table.name] = copied
            _advance_sequence(dst, table)
        for table in COPIED:
            counted = dst.execute(sa.select(sa.func.count()).select_from(table).where(
                *([meta.c.key != MIGRATING] if table is meta else []))).scalar_one()
            if counted != rows[table.name]:
                raise StateError(f"store migrate: {table.name} has {counted} rows in the "
                                 f"target, {rows[table.name]} in the source; nothing kept")
        dst.execute(meta.delete().where(meta.c.key == MIGRATING))
        src.rollback()
    return rows


def _advance_sequence(conn: sa.Connection, table: sa.Table) -> None:
    """Ids copied explicitly leave PostgreSQL's sequence behind: the next insert would
    collide with a copied id."""
    keys = list(table.primary_key)
    if len(keys) != 1 or not isinstance(keys[0].type, sa.Integer) \
            or keys[0].autoincrement is False:
        return
    column = keys[0]
    sequence = conn.execute(sa.select(sa.func.pg_get_serial_sequence(
        table.name, column.name))).scalar_one_or_none()
    if sequence is None:
        return
    highest = conn.execute(sa.select(sa.func.max(column))).scalar_one_or_none() or 0
    conn.execute(sa.select(sa.func.setval(sequence, highest + 1, False)))
