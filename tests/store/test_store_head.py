"""A database without tables is made at the head from the tables' metadata (store/tables.py),
without Alembic; every other database is upgraded by the revisions. Both roads must lead to
the same database, on SQLite and PostgreSQL: these tests hold the metadata to the
migrations, keep runs that start together on a new database to one creation, and check
that a database made at the head takes a later revision as a migrated one does."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from mailferry.store import tables, upgrade
from testbed.postgres import Postgres
from testbed.storekit import dump, schema

NewDatabase = Callable[[], str]  # a URL of a new, empty database for SQLAlchemy


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> NewDatabase:
    made = iter(range(100))
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path / f'state{next(made)}.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    return lambda: server.new_database().replace("postgresql://", "postgresql+psycopg://")


def _with(url: str, work: Callable[[sa.Engine], None]) -> str:
    engine = sa.create_engine(url)
    try:
        work(engine)
    finally:
        engine.dispose()
    return url


def migrated(url: str) -> str:
    """The database as the revisions make it from nothing (the road before the new one)."""
    def run(engine: sa.Engine) -> None:
        with engine.begin() as conn:
            upgrade.migrate(conn)
    return _with(url, run)


def created(url: str) -> str:
    """The database as an open makes it now: at the head, from the metadata."""
    return _with(url, upgrade.upgrade_schema)


def assert_same_schema(url: str, reference: str) -> None:
    found, expected = schema(url), schema(reference)
    assert sorted(found) == sorted(expected)  # the same tables
    for name, described in expected.items():  # each table on its own
        if name != "catalog":
            assert (name, found[name]) == (name, described)
    here, there = set(found["catalog"]), set(expected["catalog"])  # the DDL, line by line
    assert (sorted(here - there), sorted(there - here)) == ([], [])


def test_a_new_database_is_the_one_the_migrations_make(new_database: NewDatabase) -> None:
    by_migrations, at_head = migrated(new_database()), created(new_database())
    assert_same_schema(at_head, by_migrations)
    assert dump(at_head) == dump(by_migrations)  # alembic_version and meta's schema row
    assert dump(at_head)["alembic_version"] == [(upgrade.HEAD,)]


def test_the_comparison_sees_a_column_that_differs(new_database: NewDatabase,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: metadata that makes one column nullable is told apart."""
    by_migrations = migrated(new_database())
    column = tables.folders.c.synced_at
    monkeypatch.setattr(column, "nullable", False)
    at_head = created(new_database())
    assert schema(at_head)["folders"] != schema(by_migrations)["folders"]


LATER = f"{int(upgrade.HEAD) + 1:04d}"  # the revision after today's head


@pytest.fixture
def later_revision(tmp_path: Path) -> Iterator[Config]:
    """The revisions of today plus a later one (a column, an index, a table), elsewhere."""
    scripts = tmp_path / "migrations"
    shutil.copytree(upgrade.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / f"{LATER}_later.py").write_text(f'''
import sqlalchemy as sa
from alembic import op

revision = "{LATER}"
down_revision = "{upgrade.HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("folders", sa.Column("later", sa.String(), nullable=True))
    op.create_index("messages_later", "messages", ["fingerprint"])
    op.create_table("later", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("folder_id", sa.Integer(), sa.ForeignKey("folders.id")))
''')
    config = Config()
    config.set_main_option("script_location", str(scripts))
    yield config


def test_a_database_made_at_the_head_takes_a_later_revision(
        new_database: NewDatabase, later_revision: Config) -> None:
    """What a later revision sees is the alembic_version row: a database made at the head
    goes on from there exactly as one made by the revisions."""
    def later(engine: sa.Engine) -> None:
        with engine.begin() as conn:
            later_revision.attributes["connection"] = conn
            command.upgrade(later_revision, "head")

    by_migrations = _with(migrated(new_database()), later)
    at_head = _with(created(new_database()), later)
    assert_same_schema(at_head, by_migrations)
    assert dump(at_head) == dump(by_migrations)
    assert dump(at_head)["alembic_version"] == [(LATER,)]
    assert any(column["name"] == "later" for column in schema(at_head)["folders"]["columns"])


OPEN_AT = """
import sys, time
from mailferry.store import MonitorState, NoticeJournal, ProjectState, StateStore
owner = {"state": StateStore, "project": ProjectState, "monitor": MonitorState,
         "notices": NoticeJournal}[sys.argv[2]]
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time() - 0.05))
while time.time() < start:  # every run opens at this instant (a sleep alone spreads them)
    pass
owner.open(sys.argv[1]).close()
print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))
"""


def test_runs_starting_together_on_a_new_database_make_it_once(
        new_database: NewDatabase) -> None:
    """Four owners open one state database that has no tables yet (a file that does not
    exist), at the same instant, their imports done: one creates it, the others wait for it
    (BEGIN IMMEDIATE, or the advisory lock) and use it as made; none imports Alembic, and
    the database is the one the migrations make."""
    url = new_database()
    location = url.removeprefix("sqlite:///")
    start = time.time() + 3
    runs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, location, owner, str(start)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for owner in ("state", "project", "monitor", "notices")]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        assert out.strip() == "[]", out
    reference = migrated(new_database())
    assert_same_schema(url, reference)
    assert dump(url) == dump(reference)


def test_a_new_state_file_is_made_without_alembic(tmp_path: Path) -> None:
    """Issue: a first `mailferry copy` spent most of its state file's creation importing
    Alembic and running the revisions; now it imports none of it."""
    path = tmp_path / "state.db"
    opened = subprocess.run([sys.executable, "-c", OPEN_AT, str(path), "state", "0"],
                            capture_output=True, text=True, timeout=120, check=True)
    assert opened.stdout.strip() == "[]", opened.stdout
    assert dump(f"sqlite:///{path}")["alembic_version"] == [(upgrade.HEAD,)]
