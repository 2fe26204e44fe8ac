"""Read-side queries over a project's state for live views: tallies per wave, a page of
users with filters, failures, throughput. Everything is an SQL aggregate or a paged select
over the roster (every user of users.csv) joined with what the syncs wrote, so a view of
10,000 users costs a few milliseconds and nothing is held between calls.

Messages "done" per mailbox: the largest plan a pass announced (`scope`: the messages in
the folders it had to look at, on the first pass the whole mailbox in scope) less what its
unfinished pass still has to copy; a mailbox that finished a pass once has nothing left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailferry.store.tables import mailbox_progress, mailboxes, roster, samples, verifications

_status = sa.func.coalesce(mailboxes.c.status, "pending")
_left = sa.case((mailboxes.c.last_sync.is_not(None), 0),
                (mailbox_progress.c.planned > mailbox_progress.c.copied,
                 mailbox_progress.c.planned - mailbox_progress.c.copied), else_=0)
_in_flight = sa.case((mailboxes.c.status == "copying", 1), else_=0)
_copied = (sa.func.coalesce(mailboxes.c.messages, 0)
           + _in_flight * sa.func.coalesce(mailbox_progress.c.copied, 0))
_copied_bytes = (sa.func.coalesce(mailboxes.c.bytes, 0)
                 + _in_flight * sa.func.coalesce(mailbox_progress.c.bytes, 0))


def _joined(*, verified: bool = True) -> sa.FromClause:
    joined = (roster
              .outerjoin(mailboxes, mailboxes.c.source_user == roster.c.source_user)
              .outerjoin(mailbox_progress,
                         mailbox_progress.c.source_user == roster.c.source_user))
    if verified:
        joined = joined.outerjoin(verifications,
                                  verifications.c.source_user == roster.c.source_user)
    return joined


@dataclass
class Tally:
    """Counts of one wave (or, summed, of the project)."""

    mailboxes: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    sized: int = 0  # mailboxes whose size a sync has announced
    scope: int = 0  # messages in scope over the sized mailboxes
    left: int = 0  # of those, still to copy
    copied: int = 0  # messages copied, all passes, in progress included
    copied_bytes: int = 0
    failed_messages: int = 0

    def add(self, other: Tally) -> None:
        self.mailboxes += other.mailboxes
        for status, count in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + count
        for name in ("sized", "scope", "left", "copied", "copied_bytes", "failed_messages"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def wave_tallies(conn: Connection) -> dict[str, Tally]:
    """Per wave of the roster ("" = unassigned), in order of first appearance."""
    query = (sa.select(
        roster.c.wave, _status.label("status"), sa.func.count().label("n"),
        sa.func.min(roster.c.position).label("first"),
        sa.func.sum(sa.case((mailbox_progress.c.source_user.is_not(None), 1), else_=0)),
        sa.func.sum(sa.func.coalesce(mailbox_progress.c.scope, 0)),
        sa.func.sum(_left), sa.func.sum(_copied), sa.func.sum(_copied_bytes),
        sa.func.sum(sa.func.coalesce(mailboxes.c.failed, 0)))
        .select_from(_joined(verified=False)).group_by(roster.c.wave, _status))
    rows = sorted(conn.execute(query).all(), key=lambda r: r.first)
    out: dict[str, Tally] = {}
    for wave, status, n, _first, sized, scope, left, copied, size, failed in rows:
        tally = out.setdefault(wave, Tally())
        tally.add(Tally(n, {status: n}, sized or 0, scope or 0, left or 0, copied or 0,
                        size or 0, failed or 0))
    return out


@dataclass(frozen=True)
class UserFilter:
    search: str = ""  # part of the source or target user name
    wave: str | None = None
    department: str | None = None
    status: str | None = None
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class UserRow:
    position: int
    source_user: str
    target_user: str
    wave: str
    department: str
    status: str
    copied: int  # messages, all passes and the pass in progress
    copied_bytes: int
    scope: int | None  # None: not sized yet
    left: int
    pass_started_at: float | None
    progress_at: float | None  # when its pass last moved
    seconds: float  # the last finished pass
    last_messages: int  # copied by the last finished pass
    last_sync: float | None
    error: str | None
    failed: int
    verified_ok: bool | None  # None: never verified
    verified_at: float | None
    runner: str | None  # the sync that ran its last pass (host:pid)
    target: str | None  # imap://user@host:port, once synced
    pass_copied: int  # messages copied by the pass in progress (or the last one)
    notified: str | None = None  # issue 12 (notices) fills this in

    @property
    def done(self) -> int:
        return (self.scope or 0) - self.left

    @property
    def holder(self) -> str | None:
        """The sync copying it now (host:pid)."""
        return self.runner if self.status == "copying" else None

    def rate(self, now: float) -> float | None:
        """Messages per second: of the pass in progress, else of the last finished pass."""
        if self.status == "copying" and self.pass_started_at is not None:
            moved = (self.progress_at or now) - self.pass_started_at
            return self.pass_copied / moved if moved > 0 else None
        return self.last_messages / self.seconds if self.seconds > 0 else None


@dataclass(frozen=True)
class UserPage:
    rows: list[UserRow]
    total: int  # users matching the filter
    filter: UserFilter


def _where(flt: UserFilter) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if flt.search:
        pattern = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        clauses.append(sa.or_(roster.c.source_user.ilike(pattern, escape="\\"),
                              roster.c.target_user.ilike(pattern, escape="\\")))
    if flt.wave is not None:
        clauses.append(roster.c.wave == flt.wave)
    if flt.department is not None:
        clauses.append(roster.c.department == flt.department)
    if flt.status is not None:
        clauses.append(_status == flt.status)
    return clauses


def user_page(conn: Connection, flt: UserFilter) -> UserPage:
    where = _where(flt)
    counted = _joined(verified=False) if flt.status is not None else roster
    total = conn.execute(sa.select(sa.func.count()).select_from(counted).where(*where)
                         ).scalar_one()
    query = (sa.select(
        roster.c.position, roster.c.source_user, roster.c.target_user, roster.c.wave,
        roster.c.department, _status.label("status"), _copied.label("copied"),
        _copied_bytes.label("copied_bytes"), mailbox_progress.c.scope, _left.label("left"),
        mailbox_progress.c.pass_started_at, mailbox_progress.c.updated_at,
        sa.func.coalesce(mailboxes.c.seconds, 0.0), sa.func.coalesce(mailboxes.c.last_messages,
                                                                     0),
        mailboxes.c.last_sync, mailboxes.c.error, sa.func.coalesce(mailboxes.c.failed, 0),
        verifications.c.ok, verifications.c.verified_at, mailbox_progress.c.runner,
        mailboxes.c.target, sa.func.coalesce(mailbox_progress.c.copied, 0))
        .select_from(_joined()).where(*where).order_by(roster.c.position)
        .offset(max(flt.offset, 0)).limit(max(flt.limit, 1)))
    rows = [UserRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or 0, r[7] or 0, r[8], r[9] or 0,
                    r[10], r[11], float(r[12]), int(r[13]), r[14], r[15], int(r[16]),
                    None if r[17] is None else bool(r[17]), r[18], r[19], r[20], int(r[21]))
            for r in conn.execute(query)]
    return UserPage(rows, int(total), flt)


def choices(conn: Connection) -> tuple[list[str], list[str]]:
    """The waves and departments of the roster, in order of first appearance."""
    def distinct(column: sa.Column[str]) -> list[str]:
        query = sa.select(column).group_by(column).order_by(sa.func.min(roster.c.position))
        return [r[0] for r in conn.execute(query)]
    return distinct(roster.c.wave), distinct(roster.c.department)


@dataclass(frozen=True)
class FailedUser:
    source_user: str
    wave: str
    status: str
    error: str | None  # the mailbox's error, in the server's words
    failures: list[dict[str, Any]]  # messages refused: folder, uid, kind, reason, ...


def failed_users(conn: Connection, limit: int = 500) -> tuple[list[FailedUser], int]:
    """Users with an error or refused messages (up to `limit`), and how many there are."""
    where = sa.or_(mailboxes.c.error.is_not(None), mailboxes.c.failed > 0)
    base = roster.join(mailboxes, mailboxes.c.source_user == roster.c.source_user)
    total = conn.execute(sa.select(sa.func.count()).select_from(base).where(where)).scalar_one()
    query = (sa.select(roster.c.source_user, roster.c.wave, mailboxes.c.status,
                       mailboxes.c.error, mailboxes.c.detail)
             .select_from(base).where(where).order_by(roster.c.position).limit(limit))
    out = [FailedUser(user, wave, status, error, json.loads(detail or "{}").get("failures", []))
           for user, wave, status, error, detail in conn.execute(query)]
    return out, int(total)


@dataclass(frozen=True)
class Activity:
    """What the syncs reported: totals over a recent window and a series for charts."""

    window_messages: int
    window_bytes: int
    window_seconds: float
    last_sample_at: float | None
    first_sample_at: float | None
    total_messages: int  # every delta ever sampled
    series: list[tuple[float, int, int]]  # (bucket start, messages, bytes) copied in it
    bucket_seconds: float


def activity(conn: Connection, now: float, window: float, buckets: int = 60) -> Activity:
    span = conn.execute(sa.select(sa.func.min(samples.c.at), sa.func.max(samples.c.at),
                                  sa.func.coalesce(sa.func.sum(samples.c.messages), 0))).one()
    first, last, total = span
    recent = conn.execute(sa.select(
        sa.func.coalesce(sa.func.sum(samples.c.messages), 0),
        sa.func.coalesce(sa.func.sum(samples.c.bytes), 0), sa.func.min(samples.c.at))
        .where(samples.c.at > now - window)).one()
    messages, size, oldest = recent
    # a run that started inside the window: its rate is over the time it has run
    seconds = min(window, now - oldest + _SAMPLE_SECONDS) if oldest is not None else window
    series: list[tuple[float, int, int]] = []
    width = 1.0
    if first is not None:
        width = max((now - first) / buckets, _SAMPLE_SECONDS)
        index = sa.cast((samples.c.at - first) / width, sa.Integer)
        rows = conn.execute(sa.select(index, sa.func.sum(samples.c.messages),
                                      sa.func.sum(samples.c.bytes)).group_by(index))
        by_index = {int(i): (int(m), int(b)) for i, m, b in rows}
        count = int((now - first) / width) + 1
        series = [(first + n * width, *by_index.get(n, (0, 0))) for n in range(count)]
    return Activity(int(messages), int(size), max(seconds, 1.0), last, first, int(total),
                    series, width)


_SAMPLE_SECONDS = 2.0  # how often a sync samples (batch.progress); a rate's smallest span
