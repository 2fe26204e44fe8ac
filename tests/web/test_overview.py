"""The data layer's arithmetic, on a state written through the store's API (what a sync
writes): percent done per wave, what is not sized yet, throughput and ETA only while a
sync runs, filters in SQL, a roster that follows users.csv."""

from __future__ import annotations

import time
from pathlib import Path

from mailferry.project import parse, parse_users
from mailferry.report import read_overview
from mailferry.store import (
    MailboxProgress,
    PassOutcome,
    ProjectState,
    UserFilter,
    choices,
    user_page,
)

TOML = """
[migration]
name = "Overview"
domains = ["overview.example"]
timezone = "Asia/Kolkata"
cutover = 2031-01-10T18:00:00
[source]
imap = "imap://127.0.0.1:1143"
[target]
imap = "imap://127.0.0.1:2143"
[users]
file = "users.csv"
[sync]
state = "state.db"
"""
USERS = """source_user,target_user,department,wave
a,,sales,one
b,,sales,one
c,,it,two
d,,it,two
e,,it,
"""


def _start(state: ProjectState, user: str, wave: str) -> None:
    state.start(source_user=user, target_user=user, wave=wave, department="",
                source=f"imap://{user}@h:1", target=f"imap://{user}@h:2")


def test_percent_done_sizes_throughput_and_eta(tmp_path: Path) -> None:
    settings = parse(TOML, tmp_path / "migration.toml").sync
    users = parse_users(USERS)
    with ProjectState.open(tmp_path / "state.db") as state:
        idle = read_overview(settings, users, state)
        assert idle.total.tally.mailboxes == 5 and idle.unsized == 5
        assert idle.total.messages_percent is None and idle.eta is None
        assert not idle.throughput.running
        assert str(idle.now.tzinfo) == "Asia/Kolkata"
        # a: done (100 messages); b: 30 of 120 copied so far; c: failed before sizing
        for user, wave in (("a", "one"), ("b", "one"), ("c", "two")):
            _start(state, user, wave)
        state.record_progress("host:1", [MailboxProgress("a", time.time(), 100, 100, 10_000),
                                         MailboxProgress("b", time.time(), 120, 30, 3_000)],
                              130, 13_000)
        state.finish("a", PassOutcome("synced", 100, 10_000, 0, 10.0, None, [], []))
        state.finish("c", PassOutcome("failed", 0, 0, 0, 1.0, "NO login refused", [], []))
        overview = read_overview(settings, users, state)
    total = overview.total
    assert total.tally.mailboxes == 5 and total.done_mailboxes == 1
    assert total.tally.sized == 2 and overview.unsized == 3
    assert (total.tally.scope, total.tally.left) == (220, 90)
    assert round(total.messages_percent or 0) == round(100 * 130 / 220)
    assert total.tally.copied == 130  # 100 finished + 30 in flight
    assert overview.failed_mailboxes == 1
    one, two, unassigned = overview.waves
    assert (one.name, two.name, unassigned.name) == ("one", "two", "")
    assert one.status("synced") == 1 and one.status("copying") == 1
    assert two.status("failed") == 1 and two.status("pending") == 1
    assert unassigned.label == "(unassigned)" and unassigned.messages_percent is None
    assert overview.throughput.running and overview.throughput.messages_per_second > 0
    assert overview.eta is not None and overview.eta > overview.now
    assert overview.next_step is not None and overview.runbook is not None


def test_filters_pages_and_a_roster_that_follows_users_csv(tmp_path: Path) -> None:
    users = parse_users("source_user,target_user,department,wave\n" + "".join(
        f"user{n:04d},,{'odd' if n % 2 else 'even'},w{n % 3}\n" for n in range(250)))
    settings = parse(TOML, tmp_path / "migration.toml").sync
    with ProjectState.open(tmp_path / "state.db") as state:
        read_overview(settings, users, state)
        with state.snapshot() as conn:
            page = user_page(conn, UserFilter(wave="w1", department="odd", offset=10, limit=5))
            assert page.total == len([n for n in range(250) if n % 3 == 1 and n % 2])
            assert [r.source_user for r in page.rows] == [
                f"user{n:04d}" for n in range(250) if n % 3 == 1 and n % 2][10:15]
            assert choices(conn) == (["w0", "w1", "w2"], ["even", "odd"])
        moved = parse_users("source_user,target_user,department,wave\nuser0001,,odd,w9\n")
        read_overview(settings, moved, state)
        with state.snapshot() as conn:
            assert user_page(conn, UserFilter()).total == 1
            assert choices(conn) == (["w9"], ["odd"])
