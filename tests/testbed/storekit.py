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


def schema(url: str) -> dict[str, Any]:
    """Everything the database says about its tables, by reflection and from its catalog:
    per table its columns (name, type, nullability, server default, autoincrement, in
    order), primary key, indexes, unique constraints, foreign keys and check constraints;
    SQLite adds each object's CREATE statement (whitespace normalised), PostgreSQL each
    constraint's and index's definition and the sequences."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            out: dict[str, Any] = {}
            for name in sorted(inspector.get_table_names()):
                out[name] = {
                    "columns": [{**column, "type": column["type"].compile(conn.dialect)}
                                for column in inspector.get_columns(name)],
                    "primary key": inspector.get_pk_constraint(name),
                    "indexes": _sorted(inspector.get_indexes(name)),
                    "unique": _sorted(inspector.get_unique_constraints(name)),
                    "foreign keys": _sorted(inspector.get_foreign_keys(name)),
                    "checks": _sorted(inspector.get_check_constraints(name)),
                }
            out["catalog"] = _catalog(conn)
            return out
    finally:
        engine.dispose()


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=repr)


def _catalog(conn: sa.Connection) -> list[tuple[Any, ...]]:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master")
        return sorted((kind, name, table, " ".join(sql.split()) if sql else None)
                      for kind, name, table, sql in rows)
    queries = (
        "SELECT 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace",
        "SELECT 'index', tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema()",
        "SELECT 'sequence', sequencename, data_type::text, concat_ws(' ', start_value, "
        "min_value, max_value, increment_by, cycle) FROM pg_sequences "
        "WHERE schemaname = current_schema()",
        "SELECT 'owned by', s.relname, t.relname, a.attname FROM pg_depend d "
        "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_class t ON t.oid = d.refobjid "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
        "WHERE s.relnamespace = current_schema()::regnamespace",
    )
    return sorted(tuple(row) for query in queries for row in conn.exec_driver_sql(query))
