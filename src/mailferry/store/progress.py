"""Progress over time, the roster and wave controls: what a live view of a project reads.

Own tables beside the project's (older state files gain them as they are):

    project_roster      users.csv as last seen (one row per user, in file order), so that
                        the dashboard's filters and totals run as SQL over every user,
                        including those never synced; refreshed when the file's digest changes
    project_progress    per mailbox, the pass in progress (or the last one): messages planned,
                        copied so far, bytes, the run that does it, when it last moved
    progress_samples    every few seconds per running sync: messages and bytes copied since
                        its previous sample (deltas add up across runs and machines)
    wave_controls       a paused wave: sync starts none of its mailboxes and pauses those in
                        progress, as on Ctrl-C

The functions take an open connection inside the caller's transaction; `ProjectState`
exposes them as methods.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailferry.store.tables import mailbox_progress, roster, roster_meta, samples, wave_controls


@dataclass(frozen=True)
class RosterEntry:
    source_user: str
    target_user: str
    wave: str
    department: str


@dataclass(frozen=True)
class MailboxProgress:
    """One mailbox's pass as a sync sees it: planned messages and what it copied so far."""

    source_user: str
    pass_started_at: float
    planned: int
    copied: int
    bytes: int


@dataclass(frozen=True)
class ProgressSample:
    at: float
    runner: str
    messages: int
    bytes: int


def roster_digest(entries: Sequence[RosterEntry]) -> str:
    digest = hashlib.sha256()
    for e in entries:
        digest.update("\x1f".join((e.source_user, e.target_user, e.wave, e.department))
                      .encode() + b"\x1e")
    return digest.hexdigest()


def replace_roster(conn: Connection, entries: Sequence[RosterEntry],
                   digest: str | None = None) -> bool:
    """Make the roster `entries`, unless it already is (same digest). True if rewritten."""
    digest = digest or roster_digest(entries)
    current = conn.execute(sa.select(roster_meta.c.value).where(
        roster_meta.c.key == "digest")).scalar_one_or_none()
    if current == digest:
        return False
    conn.execute(roster.delete())
    if entries:
        conn.execute(roster.insert(), [
            dict(source_user=e.source_user, position=n, target_user=e.target_user,
                 wave=e.wave, department=e.department) for n, e in enumerate(entries)])
    conn.execute(roster_meta.delete().where(roster_meta.c.key == "digest"))
    conn.execute(roster_meta.insert().values(key="digest", value=digest))
    # fresh statistics: without them SQLite's planner ignores the covering tally indexes
    # (10,000 users: 60 ms instead of 1 s under load); PostgreSQL's autovacuum does this
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("ANALYZE")
    return True


def record_progress(conn: Connection, runner: str, at: float,
                    mailboxes: Sequence[MailboxProgress], messages: int, size: int) -> None:
    """One sample (the runner's deltas) and the current pass of each of its mailboxes."""
    conn.execute(samples.insert().values(at=at, runner=runner, messages=messages, bytes=size))
    for box in mailboxes:
        values = dict(runner=runner, pass_started_at=box.pass_started_at, planned=box.planned,
                      copied=box.copied, bytes=box.bytes, updated_at=at)
        scope = sa.func.max(mailbox_progress.c.scope, box.planned) if conn.dialect.name == \
            "sqlite" else sa.func.greatest(mailbox_progress.c.scope, box.planned)
        updated = conn.execute(mailbox_progress.update().where(
            mailbox_progress.c.source_user == box.source_user).values(scope=scope, **values))
        if updated.rowcount == 0:
            conn.execute(mailbox_progress.insert().values(
                source_user=box.source_user, scope=box.planned, **values))


def set_wave_paused(conn: Connection, wave: str, paused: bool, at: float, by: str) -> None:
    conn.execute(wave_controls.delete().where(wave_controls.c.wave == wave))
    conn.execute(wave_controls.insert().values(wave=wave, paused=paused, changed_at=at,
                                               changed_by=by))


def paused_waves(conn: Connection) -> frozenset[str]:
    rows = conn.execute(sa.select(wave_controls.c.wave).where(wave_controls.c.paused))
    return frozenset(r[0] for r in rows)
