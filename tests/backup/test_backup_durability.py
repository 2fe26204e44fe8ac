"""The backup's durability boundary, checked by recording fsync calls.

This is the one place in the suite where a test checks calls instead of outcomes, and on
purpose: a missing fsync shows only after a power cut (the page cache survives SIGKILL, so
every kill test passes without it), and tests cannot pull the plug. So the calls are recorded
where durability is decided - the write-then-rename helper `write_atomically` (settings, and
the checksum file that commits the manifest) and the commit of each batch of message files -
and the order the crash-safety argument needs is asserted:
- a file written by `write_atomically` is fsynced before it is renamed into place, and its
  directory after (else the rename itself can be lost);
- every message file the manifest names, and its cur/ directory, are fsynced before the
  checksum file that commits the record naming it is renamed into place; so is the manifest.
The state store (SQLite, WAL) has no write-then-rename of its own: SQLite syncs its journal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailferry.backup.layout import write_atomically
from testbed import Dovecot
from testbed.backupkit import backup, mailbox_dir, put
from testbed.messages import sample_mailbox


@dataclass(frozen=True)
class Event:
    kind: str  # "fsync" | "replace"
    path: str  # the fsynced file or directory; the rename's destination
    source: str = ""  # the rename's source


class SyncLog:
    """Every os.fsync (with the path its descriptor is open on) and os.replace, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def record(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def index(self, kind: str, path: Path | str, after: int = -1) -> int:
        """Position of the first such event after `after`; -1 if there is none."""
        wanted = str(path)
        return next((n for n, e in enumerate(self.events)
                     if n > after and e.kind == kind and e.path == wanted), -1)


@pytest.fixture
def sync_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncLog]:
    log = SyncLog()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.record(Event("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str], **kw: object) -> None:
        real_replace(src, dst, **kw)  # type: ignore[arg-type]
        log.record(Event("replace", os.path.realpath(dst), os.path.realpath(src)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    yield log


def test_write_atomically_syncs_the_file_before_and_the_directory_after_the_rename(
        sync_log: SyncLog, tmp_path: Path) -> None:
    target = (tmp_path / "settings.json").resolve()
    target.write_bytes(b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    (rename,) = [e for e in sync_log.events if e.kind == "replace"]
    assert rename.path == str(target) and rename.source != str(target)
    written = sync_log.index("fsync", rename.source)
    assert 0 <= written < sync_log.events.index(rename)  # the data, before the name
    assert sync_log.index("fsync", target.parent, after=sync_log.events.index(rename)) > 0
    assert not Path(rename.source).exists()


def test_every_committed_message_file_was_durable_before_its_commit(
        sync_log: SyncLog, source: Dovecot, tmp_path: Path) -> None:
    put(source, sample_mailbox(260, ["INBOX", "Work"], sizes=(500, 1500)))  # > 1 batch
    root = tmp_path / "backup"
    summary = backup(source, root)
    assert summary.total("fetched") > 200
    directory = mailbox_dir(source, root).resolve()
    checksum = directory / "manifest.jsonl.sha256"
    commits = [n for n, e in enumerate(sync_log.events)
               if e.kind == "replace" and e.path == str(checksum)]
    assert len(commits) >= 3  # the empty manifest, then batches and folder records
    files = sorted(str(p.resolve()) for p in directory.rglob("cur/*"))
    assert len(files) == summary.total("fetched")
    for file in files:
        # the commit that first names the file: the first checksum rename after it was
        # moved into cur/ and synced
        moved = sync_log.index("replace", file)
        synced = sync_log.index("fsync", file, after=moved)
        assert moved >= 0 and synced > moved, f"{file} never fsynced"
        commit = next((c for c in commits if c > moved), None)
        assert commit is not None, f"{file} committed by no checksum rename"
        assert synced < commit, f"{file} fsynced only after its commit"
        assert 0 <= sync_log.index("fsync", Path(file).parent, after=moved) < commit, \
            f"the directory of {file} not fsynced before its commit"
        assert 0 <= sync_log.index("fsync", directory / "manifest.jsonl", after=moved) < commit
