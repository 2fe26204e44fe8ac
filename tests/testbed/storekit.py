"""Every row of every table of a state database, read by reflection (not through the store's
own code), so two databases can be compared whole."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

SKIPPED = {"leases"}  # a run's, not the project's: `store migrate` does not carry them


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        out = {}
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table.name in SKIPPED:
                    continue
                rows = [tuple(_plain(v) for v in row) for row in conn.execute(sa.select(table))]
                out[table.name] = sorted(rows, key=repr)
        return out
    finally:
        engine.dispose()


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)  # SQLite reflects BOOLEAN columns as 0/1 or bool alike
    return value
