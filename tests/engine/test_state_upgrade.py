"""A state file written by the previous version opens in this one: its copy records kept,
the new columns added, the foreign messages forgotten (taken again with their relayed
fingerprint). No server needed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mailferry.status import MessageOutcome
from mailferry.store import ForeignMessage, MappedMessage, StateStore

V2_TABLES = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
INSERT INTO meta VALUES ('schema', '2');
CREATE TABLE pairs (id INTEGER PRIMARY KEY, source VARCHAR NOT NULL, target VARCHAR NOT NULL);
CREATE TABLE folders (id INTEGER PRIMARY KEY, pair_id INTEGER NOT NULL, source_name BLOB NOT
  NULL, target_name BLOB NOT NULL, src_uidvalidity BIGINT, src_uidnext BIGINT NOT NULL,
  src_highestmodseq BIGINT, tgt_uidvalidity BIGINT, tgt_uidnext BIGINT, tgt_messages BIGINT,
  complete BOOLEAN NOT NULL, synced_at FLOAT);
CREATE TABLE messages (folder_id INTEGER, src_uid BIGINT, tgt_uid BIGINT, fingerprint VARCHAR
  NOT NULL, flags VARCHAR NOT NULL, outcome VARCHAR NOT NULL, PRIMARY KEY (folder_id, src_uid));
CREATE TABLE foreign_messages (folder_id INTEGER, tgt_uid BIGINT, fingerprint VARCHAR NOT NULL,
  flags VARCHAR NOT NULL, PRIMARY KEY (folder_id, tgt_uid));
CREATE TABLE failures (folder_id INTEGER, src_uid BIGINT, kind VARCHAR NOT NULL, reason VARCHAR
  NOT NULL, at FLOAT NOT NULL, PRIMARY KEY (folder_id, src_uid));
INSERT INTO pairs VALUES (1, 'imap://a@old:143', 'imap://a@new:143');
INSERT INTO folders VALUES (1, 1, X'494E424F58', X'494E424F58', 7, 3, NULL, 9, 3, 2, 1, 0);
INSERT INTO messages VALUES (1, 1, 1, 'fp1', '\\Seen', 'copied'), (1, 2, 2, 'fp2', '', 'copied');
INSERT INTO foreign_messages VALUES (1, 5, 'fp5', '');
INSERT INTO failures VALUES (1, 9, 'rejected', 'too big', 0);
"""


def test_a_version_2_state_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(V2_TABLES)
    db.close()
    store = StateStore.open(path)
    try:
        assert store.mapped(1) == {
            1: MappedMessage(1, 1, "fp1", "\\Seen", MessageOutcome.COPIED),
            2: MappedMessage(2, 2, "fp2", "", MessageOutcome.COPIED)}
        assert store.foreign(1) == {}
        assert store.failures(1)[9].kind == "rejected"
        store.add_foreign(1, {6: ForeignMessage("fp6", "rel6", "")})
        assert store.foreign(1) == {6: ForeignMessage("fp6", "rel6", "")}
    finally:
        store.close()
    reopened = StateStore.open(path)  # once upgraded, it opens as it is
    reopened.close()
