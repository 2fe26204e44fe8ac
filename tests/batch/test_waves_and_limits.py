"""Pilot draw, selection, connection caps and windows: pure, table-driven."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from mailferry.batch import WindowSchedule, draw_pilot, plan_concurrency, select_mailboxes, waves_of
from mailferry.errors import ConfigError
from mailferry.project import MailboxUser, parse_window

DEPTS = {"sales": 40, "support": 30, "marketing": 20, "development": 10}
ORG = [MailboxUser(f"{d}{n}", f"{d}{n}", d, "", line)
       for line, (d, n) in enumerate(((d, n) for d, c in DEPTS.items() for n in range(c)), 2)]


@pytest.mark.parametrize(("size", "per_department"), [
    (4, {"sales": 1, "support": 1, "marketing": 1, "development": 1}),
    (10, {"sales": 3, "support": 3, "marketing": 2, "development": 2}),
    (2, {"sales": 1, "support": 1}),  # fewer than departments: the biggest first
])
def test_pilot_is_spread_across_departments(size: int, per_department: dict[str, int]) -> None:
    pilot = draw_pilot(ORG, size)
    assert Counter(u.department for u in pilot) == per_department
    assert draw_pilot(ORG, size) == pilot  # deterministic: preview and draw agree


def test_pilot_only_from_named_departments_and_unassigned_users() -> None:
    org = [MailboxUser(u.source_user, u.target_user, u.department,
                       "wave1" if u.source_user == "sales0" else "", u.line) for u in ORG]
    pilot = draw_pilot(org, 6, ["sales", "development"])
    assert Counter(u.department for u in pilot) == {"sales": 3, "development": 3}
    assert "sales0" not in {u.source_user for u in pilot}
    with pytest.raises(ConfigError, match="no users in legal"):
        draw_pilot(org, 2, ["legal"])


def test_selection_and_waves() -> None:
    users = [MailboxUser("a", "a", "x", "pilot", 2), MailboxUser("b", "b2", "y", "", 3),
             MailboxUser("c", "c", "y", "w2", 4)]
    assert [u.source_user for u in select_mailboxes(users)] == ["a", "b", "c"]
    assert [u.source_user for u in select_mailboxes(users, wave="pilot", names=["b2"])] == [
        "a", "b"]
    assert [(w.name, w.users) for w in waves_of(users)] == [("pilot", 1), ("w2", 1), ("", 1)]
    with pytest.raises(ConfigError, match="no users in this wave"):
        select_mailboxes(users, wave="pilto")
    with pytest.raises(ConfigError, match=r"not in users\.csv"):
        select_mailboxes(users, names=["zed"])


@pytest.mark.parametrize(("mailboxes", "workers", "selected", "caps", "expected"), [
    (4, 2, 100, (8, None), (4, 2)),
    (16, 2, 100, (8, 20), (4, 2)),  # 4 x 2 = the source's 8
    (16, 4, 100, (None, 6), (1, 4)),
    (4, 8, 100, (3, 10), (1, 3)),  # fewer connections than workers: one mailbox, 3 folders
    (4, 2, 100, (1, 1), (1, 1)),
    (8, 2, 3, (None, None), (3, 2)),  # never more lanes than mailboxes
])
def test_connection_caps(mailboxes: int, workers: int, selected: int,
                         caps: tuple[int | None, ...], expected: tuple[int, int]) -> None:
    plan = plan_concurrency(mailboxes=mailboxes, workers=workers, selected=selected, caps=caps)
    assert (plan.mailboxes, plan.workers) == expected
    assert all(plan.connections <= cap for cap in caps if cap is not None)


def test_window_schedule_says_when_the_next_window_opens() -> None:
    zone = ZoneInfo("Europe/Berlin")
    windows = (parse_window("Sat 00:00-Sun 23:59"), parse_window("Mon-Fri 20:00-23:59"))
    now = [dt.datetime(2026, 12, 14, 9, 30, tzinfo=dt.UTC)]  # Monday 10:30 in Berlin
    schedule = WindowSchedule(windows, zone, clock=lambda: now[0])
    assert not schedule.is_open()
    assert schedule.next_open() == dt.datetime(2026, 12, 14, 20, 0, tzinfo=zone)
    assert schedule.seconds_until_open() == 9.5 * 3600
    now[0] = dt.datetime(2026, 12, 14, 19, 0, tzinfo=dt.UTC)  # 20:00 in Berlin
    assert schedule.is_open() and schedule.seconds_until_open() == 0
    assert WindowSchedule((), zone).is_open()
