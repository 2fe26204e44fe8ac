"""The store's schema, brought to the current revision on SQLite and PostgreSQL alike: a new
database is created at the head from the tables' metadata, any other is upgraded by Alembic
(src/mailferry/store/migrations; docs/scale-out.md says how to add a revision).

Every owner of tables (the copy state, the project state, the monitor, the notice journal)
calls `upgrade_schema` on open: a database at the head costs one SELECT and does not even
import Alembic (HEAD names the newest revision; importing Alembic and reading the revision
scripts took longer than a whole no-change re-run over a 50 ms link). Otherwise one
transaction that excludes every other run (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory
lock) looks again, so runs that start together on a new or older database change it once:
- a database without any table (a new state file, an empty PostgreSQL database) gets every
  table of store/tables.py, the alembic_version row at HEAD and meta's legacy schema row,
  without Alembic (its import and the revisions cost a first `copy` most of its state
  file's creation). tests/store/test_store_head.py holds this to be the very database the
  revisions make, on both databases, and one that later revisions upgrade alike;
- a database with tables is upgraded by Alembic from its revision: state files of
  mailferry before Alembic (their version in the `meta` table, no alembic_version) are
  brought up by the baseline revision, in place.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from mailferry.errors import StateError
from mailferry.store import tables
from mailferry.store.database import StoreLocation, describe_location, unusable
from mailferry.store.revision import HEAD, LEGACY_SCHEMA, MIGRATING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
ADVISORY_LOCK = 0x6D66_7374  # "mfst": the lock every mailferry upgrade on PostgreSQL takes
# Alembic runs a migration through module-level proxies (alembic.context, alembic.op): two
# upgrades at once in one process, e.g. two batches opening new state files in two threads,
# tear each other's proxies down (KeyError: 'config'). One upgrade at a time per process.
_ALEMBIC = threading.Lock()
# as Alembic creates it (its primary key's name included): a new database gets it from here
version_table = sa.Table("alembic_version", sa.MetaData(),
                         sa.Column("version_num", sa.String(32), nullable=False),
                         sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def alembic_head() -> str:
    """The head as Alembic finds it in the revision scripts (HEAD must equal it)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.select(version_table.c.version_num)).scalar_one_or_none()


def _exclusive(engine: sa.Engine) -> sa.Engine:
    """An engine whose transactions exclude every other writer from their first statement."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine  # PostgreSQL locks by advisory lock; a memory database is private
    locked = sa.create_engine(engine.url, poolclass=sa.pool.NullPool,
                              connect_args={"timeout": 60})

    @sa.event.listens_for(locked, "connect")
    def _manual(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]

    @sa.event.listens_for(locked, "begin")
    def _immediate(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return locked


def upgrade_schema(engine: sa.Engine, *, refuse_unfinished: bool = True) -> None:
    """Bring the database to the head revision (no-op when it is there). A database that a
    `store migrate` is filling, or that one left unfinished, is refused."""
    _upgrade(engine)
    if refuse_unfinished:
        with engine.connect() as conn:
            marker = conn.execute(sa.text("SELECT value FROM meta WHERE key = :key"),
                                  {"key": MIGRATING}).scalar_one_or_none()
            conn.rollback()
        if marker is not None:
            raise StateError(f"this state database is being filled by `mailferry store "
                             f"migrate` ({marker}), or was left half-filled by one: run it "
                             "again to finish before using the store")


def _upgrade(engine: sa.Engine) -> None:
    head = HEAD
    with engine.connect() as conn:
        found = current_revision(conn)
        conn.rollback()
    if found == head:
        return
    locked = _exclusive(engine)
    try:
        with locked.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK)))
            if sa.inspect(conn).get_table_names():
                migrate(conn)
            else:
                create_at_head(conn)
    finally:
        if locked is not engine:
            locked.dispose()


def create_at_head(conn: sa.Connection) -> None:
    """A database without tables, made at the head from the tables' metadata: what the
    revisions would make of it, without importing Alembic or reading its scripts."""
    tables.metadata.create_all(conn, checkfirst=False)
    version_table.create(conn)
    conn.execute(version_table.insert().values(version_num=HEAD))
    conn.execute(tables.meta_table.insert().values(key="schema", value=str(LEGACY_SCHEMA)))


def migrate(conn: sa.Connection) -> None:
    """Alembic's upgrade to the head of a database that has tables, on the caller's locked
    connection: an older revision, or a state file from before Alembic."""
    found = current_revision(conn)
    if found == HEAD:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
    if found is not None and found not in known:
        raise StateError(f"the state database is at schema revision {found}, which this "
                         "mailferry does not know (a newer version wrote it)")
    config = _config()
    config.attributes["connection"] = conn
    try:
        with _ALEMBIC:
            command.upgrade(config, "head")
    except RuntimeError as exc:  # a pre-Alembic file from a newer version
        raise StateError(str(exc)) from None


def prepare(engine: sa.Engine, location: StoreLocation) -> None:
    """`upgrade_schema` for an owner's open: errors name the location (never a password),
    and the engine is let go when the database cannot be used."""
    try:
        upgrade_schema(engine)
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise unusable(location, exc) from None
    except StateError as exc:
        engine.dispose()
        raise StateError(f"{describe_location(location)}: {exc}") from None
