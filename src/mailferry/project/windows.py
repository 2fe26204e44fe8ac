"""Maintenance windows: weekly spans of local wall-clock time, such as "Sat 00:00-Sun 23:59"
or "Mon-Fri 20:00-23:59" (each weekday evening).

Grammar: `DAYS HH:MM-[DAY ]HH:MM`, DAYS being a day, a day range (`Mon-Fri`) or `Daily`.
With a day after the dash the window is one span from the first day to that day; without,
the times repeat on every day listed (an end before the start runs past midnight).
The end minute is inclusive.
Windows are wall-clock times in the migration's time zone, so a DST change moves nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = 7 * 24 * 60
_DAY = r"(mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_TIME = r"(\d{1,2}):(\d{2})"
_PATTERN = re.compile(
    rf"^\s*(?:(daily)|{_DAY}(?:\s*-\s*{_DAY})?)\s+{_TIME}\s*-\s*(?:{_DAY}\s+)?{_TIME}\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WeeklySpan:
    """Minutes since Monday 00:00: [start, end), end may pass the week's end (wraps)."""

    start: int
    end: int


@dataclass(frozen=True)
class Window:
    text: str
    spans: tuple[WeeklySpan, ...]

    def contains(self, local: dt.datetime) -> bool:
        minute = _minute_of_week(local)
        return any(
            span.start <= minute < span.end or span.start <= minute + _WEEK < span.end
            for span in self.spans
        )

    def next_start(self, local: dt.datetime) -> dt.datetime:
        """The first moment at or after `local` (naive wall time) that is inside this window."""
        if self.contains(local):
            return local
        monday = (local - dt.timedelta(days=local.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0)
        starts = [monday + dt.timedelta(minutes=s.start + week * _WEEK)
                  for week in (0, 1) for s in self.spans]
        return min(s for s in starts if s >= local)


def _minute_of_week(local: dt.datetime) -> int:
    return local.weekday() * 24 * 60 + local.hour * 60 + local.minute


def _day(name: str) -> int:
    return DAYS.index(name[:3].lower())


def _clock(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"window {text!r}: {hours}:{minutes} is not a time of day")
    return h * 60 + m


def parse_window(text: str) -> Window:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(
            f"window {text!r} is not like 'Sat 00:00-Sun 23:59' or 'Mon-Fri 20:00-23:59'")
    daily, first, last, sh, sm, end_day, eh, em = match.groups()
    # the end minute is inclusive: "20:00-23:59" runs to midnight
    start, end = _clock(sh, sm, text), _clock(eh, em, text) + 1
    if end_day is not None:
        if daily or last:
            raise ValueError(f"window {text!r}: a span to a named day must start on one day")
        begin = _day(first) * 1440 + start
        finish = _day(end_day) * 1440 + end
        if finish <= begin:
            finish += _WEEK
        return Window(text, (WeeklySpan(begin, finish),))
    days = range(7) if daily else _day_range(first, last)
    length = end - start if end > start else end + 1440 - start
    return Window(text, tuple(WeeklySpan(d * 1440 + start, d * 1440 + start + length)
                              for d in days))


def _day_range(first: str, last: str | None) -> list[int]:
    a = _day(first)
    b = _day(last) if last else a
    return [(a + i) % 7 for i in range((b - a) % 7 + 1)]


def in_any_window(windows: Sequence[Window], local: dt.datetime) -> bool:
    return any(w.contains(local) for w in windows)


def next_window_start(windows: Sequence[Window], local: dt.datetime) -> dt.datetime:
    """Earliest moment at or after `local` inside one of `windows` (`local` if none given)."""
    if not windows:
        return local
    return min(w.next_start(local) for w in windows)
