"""Maintenance windows by tables: the exact weekly spans each text means, the edges of
each span, and the next opening (rows found by mutation testing)."""

from __future__ import annotations

import datetime as dt

import pytest

from mailferry.project import WeeklySpan, in_any_window, next_window_start, parse_window

DAY = 24 * 60
WEEK = 7 * DAY
MON = dt.datetime(2026, 12, 14)  # a Monday


@pytest.mark.parametrize(("text", "spans"), [
    ("Mon 00:00-00:00", [(0, 1)]),  # the end minute is inclusive
    ("Mon 09:05-17:30", [(9 * 60 + 5, 17 * 60 + 31)]),
    ("Tue 23:00-01:00", [(DAY + 23 * 60, DAY + 23 * 60 + 2 * 60 + 1)]),  # past midnight
    ("Sun 22:00-02:00", [(6 * DAY + 22 * 60, 6 * DAY + 22 * 60 + 4 * 60 + 1)]),
    ("Fri-Mon 08:00-09:00", [(d * DAY + 480, d * DAY + 541) for d in (4, 5, 6, 0)]),
    ("Daily 01:00-02:00", [(d * DAY + 60, d * DAY + 121) for d in range(7)]),
    ("daily 01:00-02:00", [(d * DAY + 60, d * DAY + 121) for d in range(7)]),
    ("Sat 00:00-Sun 23:59", [(5 * DAY, 7 * DAY)]),
    ("Sat 10:00-Sat 09:00", [(5 * DAY + 600, 5 * DAY + 541 + WEEK)]),  # a whole week round
    ("Sun 22:00-Mon 02:00", [(6 * DAY + 22 * 60, WEEK + 121)]),
    ("Wednesday  7:00 - Friday 8:15", [(2 * DAY + 420, 4 * DAY + 496)]),
    ("  mon 0:00-0:59  ", [(0, 60)]),
    ("Mon 23:59-23:59", [(DAY - 1, DAY)]),
])
def test_spans(text: str, spans: list[tuple[int, int]]) -> None:
    window = parse_window(text)
    assert window.text == text
    assert window.spans == tuple(WeeklySpan(a, b) for a, b in spans)


@pytest.mark.parametrize(("text", "message"), [
    ("Mon 24:00-01:00", "24:00 is not a time of day"),
    ("Mon 10:00-10:60", "10:60 is not a time of day"),
    ("Daily 10:00-Sun 11:00", "must start on one day"),
    ("Mon-Fri 10:00-Sun 11:00", "must start on one day"),
    ("Mon 10-11", "is not like"),
])
def test_refusals_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(text)


@pytest.mark.parametrize(("text", "minute", "inside"), [
    ("Mon 09:00-10:00", 9 * 60 - 1, False),
    ("Mon 09:00-10:00", 9 * 60, True),
    ("Mon 09:00-10:00", 10 * 60, True),  # the end minute is in
    ("Mon 09:00-10:00", 10 * 60 + 1, False),
    ("Sun 22:00-Mon 02:00", 6 * DAY + 21 * 60 + 59, False),
    ("Sun 22:00-Mon 02:00", 6 * DAY + 22 * 60, True),
    ("Sun 22:00-Mon 02:00", 0, True),  # Monday 00:00, across the week's end
    ("Sun 22:00-Mon 02:00", 2 * 60, True),
    ("Sun 22:00-Mon 02:00", 2 * 60 + 1, False),
    ("Sun 23:00-01:00", 30, True),  # Monday 00:30: Sunday's night
    ("Sun 23:00-01:00", 6 * DAY + 30, False),  # Sunday 00:30 is not
    ("Daily 12:00-12:00", 3 * DAY + 12 * 60, True),
    ("Daily 12:00-12:00", 3 * DAY + 12 * 60 + 1, False),
])
def test_edges(text: str, minute: int, inside: bool) -> None:
    moment = MON + dt.timedelta(minutes=minute, seconds=30)
    assert parse_window(text).contains(moment) is inside
    assert in_any_window([parse_window("Sat 10:00-10:01"), parse_window(text)],
                         moment) is inside


@pytest.mark.parametrize(("texts", "moment", "opens"), [
    # later the same day, tomorrow, next week (Monday's window seen from Tuesday)
    (["Mon 20:00-21:00"], MON.replace(hour=19, minute=59), MON.replace(hour=20)),
    (["Mon 20:00-21:00"], MON.replace(hour=21, minute=2), MON + dt.timedelta(days=7, hours=20)),
    (["Mon 20:00-21:00"], MON + dt.timedelta(days=1), MON + dt.timedelta(days=7, hours=20)),
    (["Tue 08:00-09:00"], MON.replace(hour=23), MON + dt.timedelta(days=1, hours=8)),
    # inside: now
    (["Mon 20:00-21:00"], MON.replace(hour=20, minute=30, second=15),
     MON.replace(hour=20, minute=30, second=15)),
    # the earliest of several
    (["Wed 10:00-11:00", "Tue 22:00-23:00"], MON, MON + dt.timedelta(days=1, hours=22)),
    (["Sun 23:00-Mon 01:00"], MON.replace(hour=2), MON + dt.timedelta(days=6, hours=23)),
    # the seconds of the moment never carry into the opening
    (["Mon 20:00-21:00"], MON.replace(hour=19, minute=59, second=59, microsecond=999),
     MON.replace(hour=20)),
    # a Sunday moment: next week's Monday computed from this week's
    (["Mon 06:00-07:00"], MON + dt.timedelta(days=6, hours=12),
     MON + dt.timedelta(days=7, hours=6)),
])
def test_next_opening(texts: list[str], moment: dt.datetime, opens: dt.datetime) -> None:
    assert next_window_start([parse_window(t) for t in texts], moment) == opens
