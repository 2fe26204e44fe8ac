"""Which notices a user is due, from the wave's start, today's date (in the migration's
zone), what the journal says was sent, and whether the mailbox is verified.

- before: from `lead_days` before the wave's first day until that day, once per user;
- date-changed: instead of it, when an earlier notice announced another start;
- reminder: the day before the wave, after a notice announced this start on an earlier run;
- moved: once the mailbox is verified (synced and checked).
Nothing is due for a wave without a start, nor on or after the wave's first day (a
notice that late helps nobody: the planner's notify.too-late rule says so before).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from mailferry.notify.model import NoticeKind
from mailferry.project import WaveTimes


@dataclass(frozen=True)
class DueNotice:
    kind: NoticeKind
    about: str  # the wave start it announces (ISO), "" for "moved"
    previous: dt.datetime | None = None  # date-changed: the start announced before


ANNOUNCING = (NoticeKind.BEFORE, NoticeKind.DATE_CHANGED)


def due_notices(*, times: WaveTimes | None, today: dt.date, lead_days: int, verified: bool,
                sent: Sequence[tuple[str, str]]) -> list[DueNotice]:
    """`sent`: (kind, about) pairs the journal has as sent for this user, oldest first."""
    if verified:
        done = (NoticeKind.MOVED, "") in sent
        return [] if done else [DueNotice(NoticeKind.MOVED, "")]
    if times is None:
        return []
    first_day = times.start.date()
    about = times.start.isoformat()
    if today >= first_day:
        return []
    announced = [a for k, a in sent if k in ANNOUNCING]
    if announced and about not in announced:
        return [DueNotice(NoticeKind.DATE_CHANGED, about,
                          dt.datetime.fromisoformat(announced[-1]))]
    if not announced:
        if today >= first_day - dt.timedelta(days=lead_days):
            return [DueNotice(NoticeKind.BEFORE, about)]
        return []
    if today >= first_day - dt.timedelta(days=1) and (NoticeKind.REMINDER, about) not in sent:
        return [DueNotice(NoticeKind.REMINDER, about)]
    return []
