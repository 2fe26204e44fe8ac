"""The jobs of distributed runs (`sync --distributed`, `mailferry worker`), beside the
project's tables: one row per (run, mailbox). The task queue carries the jobs; this table
says what became of them, so that a message delivered twice (a worker killed between
re-enqueueing and acknowledging) does no mailbox twice, and `sync --distributed --wait`,
`status` and the dashboard see every worker's jobs.

    queue_jobs   run_id, source_user (key); state queued | running | done; worker (host
                 pid of the last taker); attempts (takes); finishes (times it was marked
                 done: 1, or a mailbox was done twice); status (the mailbox's, once done)

The functions take an open connection inside the caller's transaction; `ProjectState`
exposes them as methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailferry.store.tables import queue_jobs


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"




@dataclass(frozen=True)
class JobRecord:
    run_id: str
    source_user: str
    state: JobState
    worker: str | None
    attempts: int
    finishes: int
    status: str | None
    note: str | None
    enqueued_at: float
    updated_at: float


def add_jobs(conn: Connection, run_id: str, users: Sequence[str], at: float) -> None:
    if users:
        conn.execute(queue_jobs.insert(), [dict(
            run_id=run_id, source_user=user, state=JobState.QUEUED, attempts=0, finishes=0,
            enqueued_at=at, updated_at=at) for user in users])


def take_job(conn: Connection, run_id: str, user: str, worker: str, at: float) -> bool:
    """Mark it running for `worker`; False when it is done already (or unknown)."""
    row = queue_jobs.c
    taken = conn.execute(queue_jobs.update().where(
        row.run_id == run_id, row.source_user == user, row.state != JobState.DONE,
    ).values(state=JobState.RUNNING, worker=worker, attempts=row.attempts + 1,
             updated_at=at))
    return taken.rowcount == 1


def finish_job(conn: Connection, run_id: str, user: str, status: str, at: float) -> None:
    row = queue_jobs.c
    conn.execute(queue_jobs.update().where(row.run_id == run_id, row.source_user == user)
                 .values(state=JobState.DONE, status=status, finishes=row.finishes + 1,
                         updated_at=at))


def return_job(conn: Connection, run_id: str, user: str, note: str, at: float) -> None:
    """Back to the queue (paused, window closed, held elsewhere); never undoes a done."""
    row = queue_jobs.c
    conn.execute(queue_jobs.update().where(
        row.run_id == run_id, row.source_user == user, row.state != JobState.DONE,
    ).values(state=JobState.QUEUED, note=note, updated_at=at))


def jobs_of(conn: Connection, run_id: str) -> list[JobRecord]:
    rows = conn.execute(sa.select(queue_jobs).where(queue_jobs.c.run_id == run_id)
                        .order_by(queue_jobs.c.source_user)).mappings().all()
    return [JobRecord(**{**row, "state": JobState(row["state"])}) for row in rows]
