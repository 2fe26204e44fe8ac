"""Alembic brings a state file written before it (main at 0b77f16) to the current schema in
place, keeping every row; a database at the head costs nothing more; runs that start
together on an old file upgrade it once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from mailferry.errors import StateError
from mailferry.store import (
    FolderMarks,
    MonitorState,
    NoticeJournal,
    ProjectState,
    StateStore,
    upgrade,
)
from testbed.storekit import dump

MAIN_STATE = Path(__file__).parent / "data" / "main_0b77f16_state.db"


@pytest.fixture
def old_state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    shutil.copy(MAIN_STATE, path)
    return path


def revision(path: Path) -> str | None:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return found


def test_a_state_file_of_the_previous_version_upgrades_in_place(old_state: Path) -> None:
    before = dump(f"sqlite:///{old_state}")
    assert revision(old_state) is None  # written before Alembic
    store = StateStore.open(old_state)
    try:
        pair = store.pair_id("imap://u001@127.0.0.1:1143", "imap://u001@127.0.0.1:2143")
        inbox = store.folder(pair, b"INBOX")
        assert inbox is not None and inbox.complete
        assert len(store.mapped(inbox.id)) == 59
        assert store.failures(inbox.id)[77].size == 40_000_000
    finally:
        store.close()
    with ProjectState.open(old_state) as state:
        records = state.records()
        assert records["ünï"].messages == 177 and records["u001"].verification is not None
        assert state.paused_waves() == frozenset({"w1"})
    with MonitorState.open(old_state) as monitor:
        assert len(monitor.passes()) == 1
    with NoticeJournal.open(old_state) as journal:
        assert [r.message_id for r in journal.records()] == ["<m1@x>"]
    assert revision(old_state) is not None
    after = dump(f"sqlite:///{old_state}")
    after.pop("alembic_version")
    added = {name: rows for name, rows in after.items() if name not in before}
    assert {name: after[name] for name in before} == before  # every row kept
    assert added == {name: [] for name in added}  # later revisions' tables, empty


def test_runs_starting_together_on_an_old_file_upgrade_it_once(old_state: Path) -> None:
    script = ("import sys; from mailferry.store import ProjectState; "
              "ProjectState.open(sys.argv[1]).close()")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(old_state)],
                             stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    assert revision(old_state) is not None


def test_a_state_of_a_newer_mailferry_is_refused_with_its_name(old_state: Path) -> None:
    StateStore.open(old_state).close()
    engine = sa.create_engine(f"sqlite:///{old_state}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StateError, match=rf"{old_state}: .*revision 9999.*newer"):
        StateStore.open(old_state)


def test_a_store_at_the_head_opens_without_alembic(old_state: Path) -> None:
    """Issue 16: a re-run's open reads the revision and stops there; Alembic (its import and
    its revision scripts) is paid only when there is something to upgrade. HEAD must name
    the newest revision, or a database would be taken for upgraded when it is not."""
    assert upgrade.alembic_head() == upgrade.HEAD
    StateStore.open(old_state).close()  # upgraded: at the head now
    assert revision(old_state) == upgrade.HEAD
    script = ("import sys; from mailferry.store import StateStore, ProjectState; "
              "StateStore.open(sys.argv[1]).close(); ProjectState.open(sys.argv[1]).close(); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    opened = subprocess.run([sys.executable, "-c", script, str(old_state)],
                            capture_output=True, text=True, timeout=120, check=True)
    assert opened.stdout.strip() == "[]", opened.stdout


def test_folder_marks_answer_only_for_a_file_at_the_head(old_state: Path) -> None:
    """The re-run's look (store.FolderMarks) reads a file as it is or not at all: an older
    revision, a newer one, or a file `store migrate` is filling sends the run to the store,
    which upgrades or refuses."""
    pair = ("imap://u001@127.0.0.1:1143", "imap://u001@127.0.0.1:2143")
    assert FolderMarks.read(old_state, *pair) is None  # before Alembic: to be upgraded
    StateStore.open(old_state).close()
    marks = FolderMarks.read(old_state, *pair)
    assert marks is not None
    store = StateStore.open(old_state)
    try:
        assert marks.folder(marks.pair_id, b"INBOX") == store.folder(store.pair_id(*pair),
                                                                     b"INBOX")
        assert marks.folders == {f.source_name: f for f in store.folders_of(marks.pair_id)}
    finally:
        store.close()
    assert FolderMarks.read(old_state, pair[1], pair[0]) is None  # never copied that way
    engine = sa.create_engine(f"sqlite:///{old_state}")
    for change in ("INSERT INTO meta (key, value) VALUES ('migrating', 'x')",
                   "DELETE FROM meta WHERE key = 'migrating'",
                   "UPDATE alembic_version SET version_num = '9999'"):
        with engine.begin() as conn:
            conn.execute(sa.text(change))
        found = FolderMarks.read(old_state, *pair)
        assert (found is None) == ("DELETE" not in change), change
    engine.dispose()
