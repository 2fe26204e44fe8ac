"""Per-mailbox progress of a migration project, next to the copy state in the same file.

One row per source user: where its mailbox stands (pending, copying, synced, paused,
failed, verified), totals over every pass, and the last pass's per-folder detail and
failures with the server's words (as JSON). Own tables and own connection; the copy
state's tables are untouched. Accounts are stored as `imap://user@host:port`: no secrets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailferry.status import MailboxStatus
from mailferry.store import inventory, jobs, one_time, progress
from mailferry.store.inventory import MailboxInventory
from mailferry.store.jobs import JobRecord
from mailferry.store.one_time import SealedSecret
from mailferry.store.progress import MailboxProgress, RosterEntry
from mailferry.store.sqlite_file import SqliteFile
from mailferry.store.tables import mailbox_progress, mailboxes, verifications

STATUSES = tuple(MailboxStatus)



@dataclass(frozen=True)
class MailboxRecord:
    source_user: str
    target_user: str
    wave: str
    department: str
    source: str
    target: str
    status: MailboxStatus
    passes: int = 0
    messages: int = 0
    bytes: int = 0
    last_messages: int = 0
    failed: int = 0
    started_at: float | None = None
    last_sync: float | None = None
    seconds: float = 0.0
    error: str | None = None
    folders: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    mirror: dict[str, Any] = field(default_factory=dict)  # the last pass's mirror report
    verification: dict[str, Any] | None = None  # the last verify (see record_verification)


@dataclass(frozen=True)
class PassOutcome:
    """What one pass over a mailbox did (built from the engine's CopySummary)."""

    status: MailboxStatus
    copied: int
    bytes: int
    failed: int
    seconds: float
    error: str | None
    folders: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    mirror: dict[str, Any] = field(default_factory=dict)  # what a mirror pass moved, removed


class ProjectState(SqliteFile):
    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """One read transaction, for the queries of store.queries: a consistent view."""
        with self._tx() as conn:
            yield conn

    def sync_roster(self, entries: Sequence[RosterEntry], digest: str | None = None) -> bool:
        """Keep the store's copy of users.csv current (rewritten only when it changed).
        `digest`: `progress.roster_digest(entries)`, when the caller already has it."""
        with self._tx() as conn:
            return progress.replace_roster(conn, entries, digest)

    def record_progress(self, runner: str, passes: list[MailboxProgress], messages: int,
                        size: int) -> None:
        """A sync's sample: messages and bytes copied since its last one, and its passes."""
        with self._tx() as conn:
            progress.record_progress(conn, runner, time.time(), passes, messages, size)

    # -- jobs of distributed runs (store/jobs.py) ------------------------------------------

    def add_jobs(self, run_id: str, users: Sequence[str]) -> None:
        with self._tx() as conn:
            jobs.add_jobs(conn, run_id, users, time.time())

    def take_job(self, run_id: str, user: str, worker: str) -> bool:
        """False when the job is done already (a message delivered twice) or unknown."""
        with self._tx() as conn:
            return jobs.take_job(conn, run_id, user, worker, time.time())

    def finish_job(self, run_id: str, user: str, status: MailboxStatus) -> None:
        with self._tx() as conn:
            jobs.finish_job(conn, run_id, user, status, time.time())

    def return_job(self, run_id: str, user: str, note: str) -> None:
        with self._tx() as conn:
            jobs.return_job(conn, run_id, user, note, time.time())

    def jobs(self, run_id: str) -> list[JobRecord]:
        with self._tx() as conn:
            return jobs.jobs_of(conn, run_id)

    def runners(self) -> dict[str, str]:
        """The worker (host:pid) of each mailbox being copied now."""
        row = mailboxes.c
        with self._tx() as conn:
            found = conn.execute(sa.select(row.source_user, mailbox_progress.c.runner)
                                 .join(mailbox_progress, mailbox_progress.c
                                       .source_user == row.source_user)
                                 .where(row.status == MailboxStatus.COPYING)).all()
        return {user: runner for user, runner in found}

    def set_wave_paused(self, wave: str, paused: bool, by: str) -> None:
        with self._tx() as conn:
            progress.set_wave_paused(conn, wave, paused, time.time(), by)

    def paused_waves(self) -> frozenset[str]:
        with self._tx() as conn:
            return progress.paused_waves(conn)

    def put_sealed_secret(self, secret: SealedSecret) -> None:
        with self._tx() as conn:
            one_time.put_sealed(conn, secret)

    def peek_sealed_secret(self, lookup: str) -> SealedSecret | None:
        with self._tx() as conn:
            return one_time.peek_sealed(conn, lookup, time.time())

    def take_sealed_secret(self, lookup: str) -> SealedSecret | None:
        """Removed for good as it is returned: a second call gets None."""
        with self._tx() as conn:
            return one_time.take_sealed(conn, lookup, time.time())

    def start(self, *, source_user: str, target_user: str, wave: str, department: str,
              source: str, target: str) -> None:
        """Mark a mailbox as being copied (creating its row on the first pass)."""
        values = dict(target_user=target_user, wave=wave, department=department,
                      source=source, target=target, status=MailboxStatus.COPYING,
                      started_at=time.time())
        with self._tx() as conn:
            updated = conn.execute(mailboxes.update().where(
                mailboxes.c.source_user == source_user).values(**values))
            if updated.rowcount == 0:
                conn.execute(mailboxes.insert().values(source_user=source_user, **values))

    def finish(self, source_user: str, outcome: PassOutcome) -> None:
        detail = json.dumps({"folders": outcome.folders, "failures": outcome.failures,
                             "mirror": outcome.mirror}, ensure_ascii=False, default=str)
        row = mailboxes.c
        values: dict[str, Any] = dict(
            status=outcome.status, passes=row.passes + 1, messages=row.messages + outcome.copied,
            bytes=row.bytes + outcome.bytes, last_messages=outcome.copied,
            failed=outcome.failed, seconds=outcome.seconds,
            error=outcome.error, detail=detail)
        if outcome.status in (MailboxStatus.SYNCED, MailboxStatus.FAILED):
            values["last_sync"] = time.time()
        with self._tx() as conn:
            conn.execute(mailboxes.update().where(row.source_user == source_user).values(**values))

    def set_status(self, source_user: str, status: MailboxStatus,
                   error: str | None = None) -> None:
        """For steps after the copy (verification) and for runs that end without a pass."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._tx() as conn:
            conn.execute(mailboxes.update().where(mailboxes.c.source_user == source_user)
                         .values(status=status, error=error))

    def record_verification(self, *, source_user: str, target_user: str, wave: str,
                            department: str, source: str, target: str,
                            result: dict[str, Any]) -> None:
        """Store a verify result (`result["ok"]`, `["differences"]`, JSON-ready, no secrets).
        Clean: the mailbox becomes verified. Not clean: it keeps its status, except that a
        verified mailbox goes back to synced (its copy is no longer proven complete)."""
        ok = bool(result["ok"])
        row = mailboxes.c
        with self._tx() as conn:
            status = conn.execute(sa.select(row.status).where(
                row.source_user == source_user)).scalar_one_or_none()
            if status is None:  # verified before any sync (e.g. an empty mailbox)
                conn.execute(mailboxes.insert().values(
                    source_user=source_user, target_user=target_user, wave=wave,
                    department=department, source=source, target=target,
                    status=MailboxStatus.PENDING))
                status = MailboxStatus.PENDING
            if ok:
                new_status = MailboxStatus.VERIFIED
            else:  # a verified mailbox is no longer proven complete
                new_status = (MailboxStatus.SYNCED if status == MailboxStatus.VERIFIED
                              else status)
            conn.execute(mailboxes.update().where(row.source_user == source_user)
                         .values(status=new_status))
            values = dict(verified_at=time.time(), ok=ok,
                          differences=int(result.get("differences", 0)),
                          detail=json.dumps(result, ensure_ascii=False, default=str))
            updated = conn.execute(verifications.update().where(
                verifications.c.source_user == source_user).values(**values))
            if updated.rowcount == 0:
                conn.execute(verifications.insert().values(source_user=source_user, **values))

    def record_inventory(self, found: MailboxInventory) -> None:
        """Keep what `mailferry inventory` counted in a source mailbox (replacing the last)."""
        with self._tx() as conn:
            inventory.put_inventory(conn, found)

    def inventories(self) -> dict[str, MailboxInventory]:
        with self._tx() as conn:
            return inventory.read_inventories(conn)

    def records(self) -> dict[str, MailboxRecord]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(mailboxes)).mappings().all()
            checks = conn.execute(sa.select(verifications)).mappings().all()
        verified = {c["source_user"]: {**json.loads(c["detail"]), "ok": bool(c["ok"]),
                                       "differences": c["differences"],
                                       "verified_at": c["verified_at"]} for c in checks}
        out = {}
        for row in rows:
            data = dict(row)
            detail = json.loads(data.pop("detail") or "{}")
            data["status"] = MailboxStatus(data["status"])
            out[row["source_user"]] = MailboxRecord(
                **data, folders=detail.get("folders", []), failures=detail.get("failures", []),
                mirror=detail.get("mirror", {}),
                verification=verified.get(row["source_user"]))
        return out
