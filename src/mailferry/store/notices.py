"""The journal of notices to users, in the project's state file (own table).

One row per (user, kind, about): `about` is what the notice announced (the wave start, ISO;
"" for "moved"). Protocol, so that a re-run sends nothing twice and a SIGKILL loses none:
1. `begin` commits state "sending" before the message is submitted;
2. `sent` commits state "sent" (with the time) once the server accepted it;
3. `failed` commits the server's answer for a notice it refused (tried again next run).
A row still "sending" at start was in flight at a crash: it is sent again (the only
repeat), with the same Message-ID. No message text and no secret is stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailferry.store.sqlite_file import SqliteFile
from mailferry.store.tables import journal


class NoticeState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"




@dataclass(frozen=True)
class NoticeRecord:
    source_user: str
    kind: str
    about: str
    state: NoticeState
    recipient: str
    message_id: str
    attempts: int
    updated_at: float
    sent_at: float | None
    error: str | None


class NoticeJournal(SqliteFile):
    def records(self) -> list[NoticeRecord]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(journal).order_by(
                journal.c.source_user, journal.c.updated_at)).mappings().all()
        return [NoticeRecord(**{**row, "state": NoticeState(row["state"])}) for row in rows]

    def _upsert(self, conn: Connection, key: dict[str, str], values: dict[str, Any]) -> None:
        where = sa.and_(*(journal.c[k] == v for k, v in key.items()))
        if conn.execute(journal.update().where(where).values(**values)).rowcount == 0:
            conn.execute(journal.insert().values(**key, **values))

    def begin(self, *, source_user: str, kind: str, about: str, recipient: str,
              message_id: str) -> None:
        key = dict(source_user=source_user, kind=kind, about=about)
        with self._tx() as conn:
            attempts = conn.execute(sa.select(journal.c.attempts).where(sa.and_(
                *(journal.c[k] == v for k, v in key.items())))).scalar_one_or_none() or 0
            self._upsert(conn, key, dict(state=NoticeState.SENDING, recipient=recipient,
                                         message_id=message_id, attempts=attempts + 1,
                                         updated_at=time.time(), error=None))

    def sent(self, *, source_user: str, kind: str, about: str) -> None:
        now = time.time()
        self._finish(source_user, kind, about, dict(state=NoticeState.SENT, updated_at=now,
                                                    sent_at=now, error=None))

    def failed(self, *, source_user: str, kind: str, about: str, error: str) -> None:
        self._finish(source_user, kind, about, dict(state=NoticeState.FAILED,
                                                    updated_at=time.time(), error=error))

    def _finish(self, source_user: str, kind: str, about: str, values: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(journal.update().where(
                journal.c.source_user == source_user, journal.c.kind == kind,
                journal.c.about == about).values(**values))
