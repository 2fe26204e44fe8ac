"""Maintenance windows: parsing and membership, table-driven, no sockets."""

from __future__ import annotations

import datetime as dt

import pytest

from mailferry.project import next_window_start, parse_window

# 2026-12-12 is a Saturday
SAT = dt.datetime(2026, 12, 12)


@pytest.mark.parametrize(("window", "moment", "inside"), [
    ("Sat 00:00-Sun 23:59", SAT.replace(hour=20), True),
    ("Sat 00:00-Sun 23:59", SAT + dt.timedelta(days=1, hours=23, minutes=59), True),
    ("Sat 00:00-Sun 23:59", SAT + dt.timedelta(days=2), False),  # Monday 00:00
    ("Sat 00:00-Sun 23:59", SAT - dt.timedelta(minutes=1), False),  # Friday 23:59
    ("Mon-Fri 20:00-23:59", dt.datetime(2026, 12, 14, 20, 0), True),  # Monday
    ("Mon-Fri 20:00-23:59", dt.datetime(2026, 12, 18, 23, 59), True),  # Friday
    ("Mon-Fri 20:00-23:59", dt.datetime(2026, 12, 14, 19, 59), False),
    ("Mon-Fri 20:00-23:59", SAT.replace(hour=21), False),
    ("Fri-Mon 22:00-06:00", dt.datetime(2026, 12, 15, 3, 0), True),  # Tue 03:00: Mon's night
    ("Fri-Mon 22:00-06:00", dt.datetime(2026, 12, 16, 3, 0), False),  # Wed 03:00
    ("Sun 22:00-Mon 02:00", dt.datetime(2026, 12, 14, 1, 0), True),  # wraps the week
    ("Daily 01:00-02:00", dt.datetime(2026, 12, 16, 1, 30), True),
    ("saturday 08:00-12:00", SAT.replace(hour=9), True),
])
def test_window_contains(window: str, moment: dt.datetime, inside: bool) -> None:
    assert parse_window(window).contains(moment) is inside


@pytest.mark.parametrize("text", [
    "weekends", "Sat 25:00-Sun 01:00", "Sat 10:00-10:70", "Mon-Fri 20:00-Sat 01:00",
    "Xyz 10:00-11:00", "Sat 10:00", "",
])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window(text)


@pytest.mark.parametrize(("moment", "expected"), [
    (dt.datetime(2026, 12, 14, 9, 0), dt.datetime(2026, 12, 14, 20, 0)),  # Mon morning
    (dt.datetime(2026, 12, 11, 23, 59, 30), dt.datetime(2026, 12, 11, 23, 59, 30)),  # inside
    (dt.datetime(2026, 12, 12, 5, 0), dt.datetime(2026, 12, 12, 5, 0)),  # Saturday
])
def test_next_window_start(moment: dt.datetime, expected: dt.datetime) -> None:
    windows = [parse_window("Sat 00:00-Sun 23:59"), parse_window("Mon-Fri 20:00-23:59")]
    assert next_window_start(windows, moment) == expected


def test_without_windows_any_time_will_do() -> None:
    assert next_window_start([], SAT) == SAT
