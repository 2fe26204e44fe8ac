"""The copy engine against two real Dovecot servers: bytes, flags, dates, folders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.copykit import folders, mailbox, run_copy, subscriptions
from testbed.messages import sample_mailbox

FOLDERS_SLASH = ["INBOX", "Work", "Work/Projects", "Work/Projects/2019", "Caf&AOk-", "Sent",
                 "Archive/&ZeZOrA-"]


def seed_into(server: Dovecot, messages: list[SeedMessage]) -> None:
    conn = imap_login(server.host, server.port, "alice", "alice-pw")
    seed(conn, messages)
    conn.logout()


def test_copy_is_exact_and_rerun_copies_nothing(source: Dovecot, target: Dovecot,
                                                state: Path) -> None:
    messages = sample_mailbox(120, FOLDERS_SLASH)
    seed_into(source, messages)
    before = mailbox(source)  # read with EXAMINE and BODY.PEEK: changes nothing
    assert any("\\Seen" not in flags for content in before.values() for _, flags, _ in content)
    summary = run_copy(source, target, state)
    assert summary.ok, summary.to_json()
    assert summary.total("copied") == len(messages)
    after = mailbox(target)
    for folder, content in before.items():
        assert after[folder] == content, folder
    # the source stays unread: the copy added no \Seen (nor anything else) there
    assert mailbox(source) == before

    again = run_copy(source, target, state)
    assert again.ok
    assert again.total("copied") == 0
    assert {f.status for f in again.folders} == {"unchanged"}
    assert mailbox(target) == after


def test_folders_translate_between_dot_and_slash_layouts(
        dovecot_factory: Callable[..., Dovecot], state: Path) -> None:
    source = dovecot_factory(layout="dot")
    target = dovecot_factory(layout="slash")
    date = dt.datetime(2011, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    raw = b"Subject: hello\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"
    seed_into(source, [
        SeedMessage(raw, "INBOX.Projekte.Stra&AN8-e", ("\\Seen", "$Label1"), date),
        SeedMessage(raw, "INBOX.a/b", (), date),
        SeedMessage(raw, "INBOX", ("\\Flagged",), date),
    ])
    summary = run_copy(source, target, state)
    assert summary.ok, summary.to_json()
    names = folders(target)
    assert "Projekte/Stra&AN8-e" in names
    # a '/' inside a name on the '.' server cannot stay on the '/' server: renamed, not skipped
    assert "a_b" in names
    assert sum(mailbox(target)["a_b"].values()) == 1
    got = mailbox(target)
    assert sum(got["Projekte/Stra&AN8-e"].values()) == 1
    (_, flags, internaldate), = got["Projekte/Stra&AN8-e"]
    assert flags == {"\\Seen", "$Label1"}
    # Maildir keeps the instant, not the zone: compare instants
    assert dt.datetime.strptime(internaldate, "%d-%b-%Y %H:%M:%S %z") == date
    subs = subscriptions(target)
    assert "Projekte/Stra&AN8-e" in subs

    # and back: slash -> dot, with a '.' inside a name that the dot server cannot hold
    back = dovecot_factory(layout="dot")
    seed_into(target, [SeedMessage(raw, "v1.2", (), date)])
    summary = run_copy(target, back, state)
    assert summary.ok, summary.to_json()
    names = folders(back)
    assert "INBOX.v1_2" in names
    assert "INBOX.Projekte.Stra&AN8-e" in names
    renamed = [f for f in summary.folders if f.source == "v1.2"]
    assert renamed and "became '_'" in renamed[0].note


def test_special_use_folders_map_by_use_not_name(dovecot_factory: Callable[..., Dovecot],
                                                 state: Path) -> None:
    source = dovecot_factory(special={"\\Sent": "Sent Messages", "\\Trash": "Deleted Messages",
                                      "\\Drafts": "Drafts"})
    target = dovecot_factory(special={"\\Sent": "Sent Items", "\\Trash": "Deleted Items",
                                      "\\Drafts": "Brouillons"})
    raw = b"Subject: s\r\n\r\nx\r\n"
    seed_into(source, [SeedMessage(raw, "Sent Messages"), SeedMessage(raw, "Deleted Messages"),
                       SeedMessage(raw, "Drafts", ("\\Draft",))])
    summary = run_copy(source, target, state, )
    assert summary.ok
    got = mailbox(target)
    assert sum(got["Sent Items"].values()) == 1
    assert sum(got["Deleted Items"].values()) == 1
    assert sum(got["Brouillons"].values()) == 1
    assert "Sent Messages" not in got


def test_no_automap_and_exclude_special_and_map(dovecot_factory: Callable[..., Dovecot],
                                                state: Path) -> None:
    from mailferry.engine import FolderFilters

    source = dovecot_factory(special={"\\Sent": "Sent Messages", "\\Trash": "Trash"})
    target = dovecot_factory(special={"\\Sent": "Sent Items", "\\Trash": "Bin"})
    raw = b"Subject: s\r\n\r\nx\r\n"
    seed_into(source, [SeedMessage(raw, "Sent Messages"), SeedMessage(raw, "Trash"),
                       SeedMessage(raw, "Old"), SeedMessage(raw, "Old/2019"),
                       SeedMessage(raw, "Junkyard")])
    summary = run_copy(source, target, state, filters=FolderFilters(
        automap=False, exclude_special=("\\Trash",), renames=(("Old", "Archive/Old"),),
        exclude=("Junk*",)))
    assert summary.ok
    got = mailbox(target)
    assert sum(got["Sent Messages"].values()) == 1  # not automapped
    assert sum(got["Bin"].values()) == 0  # trash excluded
    assert sum(got["Archive/Old"].values()) == 1
    assert sum(got["Archive/Old/2019"].values()) == 1
    assert "Junkyard" not in got
    excluded = {f.source for f in summary.folders if f.status == "excluded"}
    assert excluded == {"Trash", "Junkyard"}
