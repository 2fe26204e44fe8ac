"""A state file's folder marks, read with the standard library's sqlite3 alone: what a
no-change re-run compares with each side's STATUS. Importing SQLAlchemy and opening the
store through it cost more than such a whole re-run over a 50 ms link (bench/wan_bench.py),
so `mailferry copy` looks here first and opens the store only when something changed.

Read-only, and only a file at the current schema revision that no `store migrate` is
filling: anything else (no file, an older or newer revision, a locked or damaged file, a
pair never copied) answers None, and the caller opens the store, which upgrades or refuses
with its own words.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from mailferry.store.records import FolderState
from mailferry.store.revision import HEAD, MIGRATING

_FOLDERS = ("SELECT id, source_name, target_name, src_uidvalidity, src_uidnext, "
            "src_highestmodseq, tgt_uidvalidity, complete, tgt_uidnext, tgt_messages "
            "FROM folders WHERE pair_id = ?")


def capabilities_key(endpoint: str) -> str:
    """The `meta` key of what a server announced after its last login."""
    return f"capabilities {endpoint}"


@dataclass(frozen=True)
class FolderMarks:
    """The folders recorded for one (source, target) pair, as the last run left them, and
    what each side's server announced after its last login (endpoint -> capabilities)."""

    pair_id: int
    folders: dict[bytes, FolderState]
    capabilities: dict[str, frozenset[str]] = field(default_factory=dict)
    source: str = ""  # the endpoints, as `read` was given them
    target: str = ""

    def folder(self, pair_id: int, source_name: bytes) -> FolderState | None:
        return self.folders.get(source_name) if pair_id == self.pair_id else None

    def open_first(self, endpoint: str) -> bytes | None:
        """The folder a first look examines on `endpoint` before it lists (the imap
        session's `expect_capabilities`): the one with the most messages recorded, by its
        name on that side. It is the one whose STATUS costs most, and the likeliest to
        have changed."""
        biggest = max(self.folders.values(), key=lambda f: f.tgt_messages or 0, default=None)
        if biggest is None or not biggest.tgt_messages:
            return None
        return {self.source: biggest.source_name, self.target: biggest.target_name}.get(endpoint)

    def opens_writable(self, endpoint: str) -> bool:
        """Whether that folder is SELECTed rather than EXAMINEd: on the target only (the
        copy, which SELECTs it, then takes that opening), never where the source is too."""
        return endpoint == self.target != self.source

    @classmethod
    def read(cls, path: Path, source: str, target: str) -> FolderMarks | None:
        if not path.is_file():
            return None
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            return None
        try:
            return cls._read(conn, source, target)
        except sqlite3.Error:
            return None
        finally:
            conn.close()

    @classmethod
    def _read(cls, conn: sqlite3.Connection, source: str, target: str) -> FolderMarks | None:
        if conn.execute("SELECT version_num FROM alembic_version").fetchall() != [(HEAD,)]:
            return None
        if conn.execute("SELECT 1 FROM meta WHERE key = ?", (MIGRATING,)).fetchone():
            return None
        pair = conn.execute("SELECT id FROM pairs WHERE source = ? AND target = ?",
                            (source, target)).fetchone()
        if pair is None:
            return None
        folders = {bytes(r[1]): FolderState(int(r[0]), bytes(r[1]), bytes(r[2]), r[3], int(r[4]),
                                            r[5], r[6], bool(r[7]), r[8], r[9])
                   for r in conn.execute(_FOLDERS, (pair[0],))}
        asked = (capabilities_key(source), capabilities_key(target))
        keys = dict(zip(asked, (source, target), strict=True))
        found = {keys[key]: frozenset(value.split())
                 for key, value in conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)",
                                                asked)}
        return cls(int(pair[0]), folders, found, source, target)
