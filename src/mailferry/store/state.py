"""What has been copied where, durable across crashes.

Per (source account, target account, source folder): the UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ
seen, and per source UID the target UID, fingerprint and flags last carried over. Target
messages that are not copies of ours ("foreign": delivered by the relay, copied by another
tool, or appended just before a crash) are kept with their fingerprints until a source
message claims them. No secrets are ever written here: accounts are stored as
`imap://user@host:port`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from mailferry.errors import StateError
from mailferry.status import FailureKind, MessageOutcome
from mailferry.store.database import (
    StoreLocation,
    create_engine,
    describe_location,
    parse_location,
    sqlite_engine,
)
from mailferry.store.leases import LeaseTable
from mailferry.store.marks import capabilities_key
from mailferry.store.records import (
    NOTHING_LEARNED,
    FailureRecord,
    FolderState,
    ForeignMessage,
    MappedMessage,
    TargetTraits,
)
from mailferry.store.schema import insert_ignoring, upsert
from mailferry.store.tables import (
    failures,
    folders,
    foreign,
    messages,
    meta_table,
    pairs,
    target_traits,
)
from mailferry.store.upgrade import prepare

_MAPPED = (messages.c.src_uid, messages.c.tgt_uid, messages.c.fingerprint, messages.c.flags,
           messages.c.outcome, messages.c.relayed)  # MappedMessage's fields, in its order
_OUTCOMES = {outcome.value: outcome for outcome in MessageOutcome}


T = TypeVar("T")


def _in_lists(values: list[T]) -> Iterator[list[T]]:
    """`values` in pieces short enough for one IN list (SQLite caps a statement's variables)."""
    for start in range(0, len(values), 500):
        yield values[start:start + 500]


class StateStore:
    """Thread-safe: one lock serialises writes (SQLite has one writer anyway)."""

    def __init__(self, engine: Engine, *, lease_location: StoreLocation | None = None) -> None:
        self.engine = engine
        self._lock = threading.RLock()
        self._conn: Connection = engine.connect()
        self._lease_location = lease_location
        self._leases: LeaseTable | None = None

    @classmethod
    def open(cls, location: str | Path | URL, *, readonly: bool = False) -> StateStore:
        """`location`: the state file, or a PostgreSQL URL (database.parse_location).
        `readonly` (for --dry-run) never writes the file: it reads a copy held in memory."""
        location = parse_location(location)
        if readonly and isinstance(location, Path):
            engine = sqlite_engine("sqlite://", single=True)
            if location.exists():
                import sqlite3

                source = sqlite3.connect(f"file:{location}?mode=ro", uri=True)
                raw = engine.raw_connection()
                source.backup(raw.driver_connection)  # type: ignore[arg-type]
                source.close()
                raw.close()
            lease_location: StoreLocation | None = None
        else:
            if readonly:
                raise StateError(f"{describe_location(location)}: a dry run reads a state "
                                 "file, not a database server")
            engine = create_engine(location)
            lease_location = location
        prepare(engine, location)
        return cls(engine, lease_location=lease_location)

    def close(self) -> None:
        self._conn.close()
        self.engine.dispose()
        if self._leases is not None:
            self._leases.engine.dispose()

    @property
    def leases(self) -> LeaseTable:
        """The leases on target mailboxes, in the same database; own connections, so a
        heartbeat never waits behind the copy's transactions."""
        if self._leases is None:
            if self._lease_location is None:
                raise StateError("a read-only state database (dry run) takes no leases")
            engine = create_engine(self._lease_location, single=False)
            try:
                self._leases = LeaseTable(engine)
            except sa.exc.DBAPIError as exc:
                raise StateError(f"{describe_location(self._lease_location)}: cannot create the "
                                 f"lease table ({exc.orig})") from None
        return self._leases

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._lock, self._conn.begin():
            yield self._conn

    # -- accounts and folders -----------------------------------------------------------

    def remember_capabilities(self, found: dict[str, frozenset[str]]) -> None:
        """What each server (by endpoint) announced after login, for the next run's first
        look (FolderMarks.capabilities: its LIST then goes out with the login)."""
        rows = [{"key": capabilities_key(endpoint), "value": " ".join(sorted(caps))}
                for endpoint, caps in found.items() if caps]
        with self._tx() as conn:
            upsert(conn, meta_table, rows)

    def pair_id(self, source: str, target: str) -> int:
        with self._tx() as conn:
            # runs on one pair may start together: whoever inserts first wins
            conn.execute(insert_ignoring(conn, pairs).values(source=source, target=target))
            row = conn.execute(sa.select(pairs.c.id).where(
                pairs.c.source == source, pairs.c.target == target)).one()
            return int(row[0])

    def folder(self, pair_id: int, source_name: bytes) -> FolderState | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(folders).where(
                folders.c.pair_id == pair_id, folders.c.source_name == source_name)).first()
        if row is None:
            return None
        return FolderState(row.id, row.source_name, row.target_name, row.src_uidvalidity,
                           row.src_uidnext, row.src_highestmodseq, row.tgt_uidvalidity,
                           bool(row.complete), row.tgt_uidnext, row.tgt_messages)

    def folders_of(self, pair_id: int) -> list[FolderState]:
        """Every folder recorded for the pair (also those the source no longer lists)."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(folders).where(folders.c.pair_id == pair_id)
                                .order_by(folders.c.id)).all()
        return [FolderState(r.id, r.source_name, r.target_name, r.src_uidvalidity,
                            r.src_uidnext, r.src_highestmodseq, r.tgt_uidvalidity,
                            bool(r.complete), r.tgt_uidnext, r.tgt_messages) for r in rows]

    def start_folder(self, pair_id: int, source_name: bytes, target_name: bytes,
                     src_uidvalidity: int, tgt_uidvalidity: int) -> FolderState:
        """The folder's state, reset when a UIDVALIDITY or the target folder changed: what
        was copied is then found again by fingerprint, not copied again."""
        current = self.folder(pair_id, source_name)
        if current is not None and (current.src_uidvalidity, current.tgt_uidvalidity,
                                    current.target_name) == (src_uidvalidity, tgt_uidvalidity,
                                                             target_name):
            return current
        with self._tx() as conn:
            if current is None:
                folder_id = int(conn.execute(folders.insert().values(
                    pair_id=pair_id, source_name=source_name, target_name=target_name,
                    src_uidvalidity=src_uidvalidity, src_uidnext=1, tgt_uidvalidity=tgt_uidvalidity,
                    complete=False)).inserted_primary_key[0])  # type: ignore[index]
            else:
                folder_id = current.id
                for table in (messages, foreign, failures, target_traits):
                    conn.execute(table.delete().where(table.c.folder_id == folder_id))
                conn.execute(folders.update().where(folders.c.id == folder_id).values(
                    target_name=target_name, src_uidvalidity=src_uidvalidity, src_uidnext=1,
                    src_highestmodseq=None, tgt_uidvalidity=tgt_uidvalidity, complete=False))
        return FolderState(folder_id, source_name, target_name, src_uidvalidity, 1, None,
                           tgt_uidvalidity, False)

    def finish_folder(self, state: FolderState, *, src_uidnext: int,
                      src_highestmodseq: int | None, tgt_uidnext: int, tgt_messages: int,
                      complete: bool, traits: TargetTraits | None = None) -> FolderState:
        """The folder's marks as the run leaves them, with what its read-back learned of the
        target (`traits`; None: nothing learned, what was known stays)."""
        values = dict(src_uidnext=src_uidnext, src_highestmodseq=src_highestmodseq,
                      tgt_uidnext=tgt_uidnext, tgt_messages=tgt_messages, complete=complete)
        now = time.time()
        with self._tx() as conn:
            conn.execute(folders.update().where(folders.c.id == state.id).values(
                synced_at=now, **values))
            if traits is not None:
                conn.execute(target_traits.delete().where(target_traits.c.folder_id == state.id))
            if traits is not None and traits != NOTHING_LEARNED:
                conn.execute(target_traits.insert().values(
                    folder_id=state.id, keeps_ordinary=traits.keeps_ordinary,
                    keeps_eight_bit=traits.keeps_eight_bit, at=now))
        return replace(state, **values)  # type: ignore[arg-type]

    def target_traits(self, folder_id: int) -> TargetTraits:
        """What read-backs into the folder's target learned, at the UIDVALIDITYs recorded
        (`start_folder` forgets it with the folder's other rows)."""
        with self._tx() as conn:
            row = conn.execute(sa.select(target_traits).where(
                target_traits.c.folder_id == folder_id)).first()
        return (NOTHING_LEARNED if row is None else
                TargetTraits(bool(row.keeps_ordinary), bool(row.keeps_eight_bit)))

    # -- messages -------------------------------------------------------------------------

    def mapped(self, folder_id: int) -> dict[int, MappedMessage]:
        """Every recorded row of the folder. Columns in a fixed order, rows unpacked as
        tuples and outcomes looked up, not parsed: at 100,000 rows (a 10-message delta
        on a huge folder reads them all) attribute access and Enum() took most of it."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(*_MAPPED).where(messages.c.folder_id == folder_id))
            return {src: MappedMessage(src, tgt, fingerprint, flags, _OUTCOMES[outcome], relayed)
                    for src, tgt, fingerprint, flags, outcome, relayed in rows}

    def mapped_uids(self, folder_id: int) -> list[int]:
        """The source UIDs recorded for the folder, ascending (integers only: a 100,000
        message folder costs a few MB, not its rows)."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(messages.c.src_uid).where(
                messages.c.folder_id == folder_id).order_by(messages.c.src_uid))
            return [int(r[0]) for r in rows]

    def mapped_rows(self, folder_id: int, src_uids: Iterable[int]) -> list[MappedMessage]:
        """The recorded rows of these source UIDs (those that have one), by source UID."""
        wanted = sorted(set(src_uids))
        out: list[MappedMessage] = []
        with self._tx() as conn:
            for some in _in_lists(wanted):
                rows = conn.execute(sa.select(*_MAPPED).where(
                    messages.c.folder_id == folder_id, messages.c.src_uid.in_(some)))
                out.extend(MappedMessage(src, tgt, fingerprint, flags, _OUTCOMES[outcome],
                                         relayed)
                           for src, tgt, fingerprint, flags, outcome, relayed in rows)
        return sorted(out, key=lambda m: m.src_uid)

    def forget_source_uids(self, folder_id: int, src_uids: Iterable[int]) -> None:
        """Source messages that left the folder (mirror mode): their rows go, so their
        target messages are no longer ours to pair or to touch from this folder."""
        gone = sorted(set(src_uids))
        if not gone:
            return
        with self._tx() as conn:
            for some in _in_lists(gone):
                conn.execute(messages.delete().where(
                    messages.c.folder_id == folder_id, messages.c.src_uid.in_(some)))

    def fingerprints_held(self, folder_id: int, fingerprints: Iterable[str]) -> set[str]:
        """Those of `fingerprints` that a recorded row of the folder has (a delta's duplicate
        check for its few new messages, without reading the folder's rows)."""
        wanted = sorted(set(fingerprints))
        held: set[str] = set()
        with self._tx() as conn:
            for some in _in_lists(wanted):
                held.update(r[0] for r in conn.execute(sa.select(messages.c.fingerprint).where(
                    messages.c.folder_id == folder_id, messages.c.fingerprint.in_(some))))
        return held

    def fingerprints_elsewhere(self, pair_id: int, source_name: bytes) -> frozenset[str]:
        """Fingerprints of the messages copied from the pair's other folders."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(messages.c.fingerprint).join(
                folders, folders.c.id == messages.c.folder_id).where(
                folders.c.pair_id == pair_id, folders.c.source_name != source_name,
                messages.c.outcome.in_((MessageOutcome.COPIED, MessageOutcome.PRESENT))))
            return frozenset(r[0] for r in rows)

    def foreign(self, folder_id: int) -> dict[int, ForeignMessage]:
        """Unclaimed target messages by target UID."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(foreign).where(foreign.c.folder_id == folder_id))
            return {r.tgt_uid: ForeignMessage(r.fingerprint, r.relayed, r.flags) for r in rows}

    def record(self, folder_id: int, rows: Iterable[MappedMessage],
               claimed: Iterable[int] = ()) -> None:
        """Commit copies (and the foreign target messages they claimed) in one transaction."""
        values = [dict(folder_id=folder_id, src_uid=m.src_uid, tgt_uid=m.tgt_uid,
                       fingerprint=m.fingerprint, flags=m.flags, outcome=m.outcome,
                       relayed=m.relayed) for m in rows]
        claimed = list(claimed)
        with self._tx() as conn:
            if values:
                upsert(conn, messages, values)
                conn.execute(failures.delete().where(
                    failures.c.folder_id == folder_id,
                    failures.c.src_uid.in_([v["src_uid"] for v in values]),
                    failures.c.kind.in_([k for k in FailureKind if k.missing])))
            if claimed:
                conn.execute(foreign.delete().where(foreign.c.folder_id == folder_id,
                                                    foreign.c.tgt_uid.in_(claimed)))

    def add_foreign(self, folder_id: int, found: dict[int, ForeignMessage]) -> None:
        if not found:
            return
        with self._tx() as conn:
            upsert(conn, foreign, [
                dict(folder_id=folder_id, tgt_uid=uid, fingerprint=m.fingerprint,
                     relayed=m.relayed, flags=m.flags)
                for uid, m in found.items()])

    def forget_target_uids(self, folder_id: int, tgt_uids: Iterable[int]) -> None:
        """Target messages that vanished: their source messages will be copied again."""
        gone = list(tgt_uids)
        if not gone:
            return
        with self._tx() as conn:
            conn.execute(messages.delete().where(messages.c.folder_id == folder_id,
                                                 messages.c.tgt_uid.in_(gone)))
            conn.execute(foreign.delete().where(foreign.c.folder_id == folder_id,
                                                foreign.c.tgt_uid.in_(gone)))

    def update_flags(self, folder_id: int, flags_by_src_uid: dict[int, str]) -> None:
        if not flags_by_src_uid:
            return
        statement = messages.update().where(
            messages.c.folder_id == folder_id, messages.c.src_uid == sa.bindparam("uid"),
        ).values(flags=sa.bindparam("new_flags"))
        with self._tx() as conn:  # one executemany, not a statement per message
            conn.execute(statement, [{"uid": uid, "new_flags": flags}
                                     for uid, flags in flags_by_src_uid.items()])

    def record_failure(self, folder_id: int, src_uid: int, kind: FailureKind, reason: str,
                       *, size: int | None = None) -> None:
        with self._tx() as conn:
            upsert(conn, failures, [dict(
                folder_id=folder_id, src_uid=src_uid, kind=kind, reason=reason, at=time.time(),
                size=size)])

    def failures(self, folder_id: int) -> dict[int, FailureRecord]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(failures).where(failures.c.folder_id == folder_id))
            return {r.src_uid: FailureRecord(FailureKind(r.kind), r.reason, r.size)
                    for r in rows}
