"""Creating the store's tables when runs that start together race on a new database."""

from __future__ import annotations

import sqlalchemy as sa


def create_tables(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """CREATE TABLE IF NOT EXISTS for each table: one atomic statement per table, where
    `create_all`'s look-then-create lets two runs both decide to create it."""
    for table in metadata.sorted_tables:
        conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
