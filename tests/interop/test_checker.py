"""The independent checker against real Dovecot servers: names normalised across layouts,
and every kind of difference found and classified."""

from __future__ import annotations

import datetime as dt
import imaplib
from collections.abc import Callable

import pytest

from testbed import Dovecot, imap_login
from testbed.checker import account_snapshot, compare, duplicates, normalise_name
from testbed.matrix_mailbox import FOLDERS, matrix_mailbox, seed_mailbox, wire_name
from testbed.mutf7 import decode, encode


@pytest.mark.parametrize(("text", "wire"), [
    ("INBOX", "INBOX"), ("Café ☕", "Caf&AOk- &JhU-"), ("Work & Play", "Work &- Play"),
    ("日本語", "&ZeVnLIqe-"), ("Ünïcödé", "&ANw-n&AO8-c&APY-d&AOk-"),
    ("~peter/mail", "~peter/mail"),
])
def test_modified_utf7(text: str, wire: str) -> None:
    assert encode(text) == wire
    assert decode(wire) == text


@pytest.mark.parametrize(("wire", "delimiter", "prefix", "name"), [
    ("INBOX", ".", "INBOX.", "INBOX"),
    ("inbox", "/", "", "INBOX"),
    ("INBOX.Archive.2003", ".", "INBOX.", "Archive/2003"),
    ("Archive/2003", "/", "", "Archive/2003"),
    ("Projets/Caf&AOk- &JhU-", "/", "", "Projets/Café ☕"),
    ("INBOX", None, "", "INBOX"),
])
def test_names_are_normalised(wire: str, delimiter: str | None, prefix: str, name: str) -> None:
    assert normalise_name(wire, delimiter, prefix) == name


def _snapshot(server: Dovecot):  # type: ignore[no-untyped-def]
    return account_snapshot(server.host, server.port, "alice", server.password())


def test_same_mailbox_in_two_layouts_is_exact(dovecot_factory: Callable[..., Dovecot]) -> None:
    # not the 2043 dates: Dovecot stores the time of the APPEND instead, different per server
    box = [m for m in matrix_mailbox(generated=24, corpus=6) if m.internaldate.year < 2030]
    slash, dot = dovecot_factory(layout="slash"), dovecot_factory(layout="dot")
    for server in (slash, dot):
        report = seed_mailbox(server.host, server.port, "alice", server.password(), box)
        assert report.refused == [] and report.appended == len(box)
    one, other = _snapshot(slash), _snapshot(dot)
    assert one.count() == len(box)
    assert {"Archive/2003/Q1", "Projets/Café ☕", "日本語", "Work & Play"} <= set(one.folders)
    assert set(one.folders) == set(other.folders)
    assert compare(one, other).exact
    assert other.folders["Archive/2003"].wire == "INBOX.Archive.2003"


def test_every_kind_of_difference_is_found(dovecot_factory: Callable[..., Dovecot]) -> None:
    raw = b"From: a@example.org\r\nSubject: s%d\r\nMessage-ID: <%d@x>\r\n\r\nbody %d\r\n"
    source, target = dovecot_factory(), dovecot_factory()
    date = imaplib.Time2Internaldate(dt.datetime(1999, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    for server in (source, target):
        conn = imap_login(server.host, server.port, "alice", server.password())
        for n in range(1, 7):  # message n at sequence number n
            conn.append("INBOX", "(\\Seen $Label1)", date, raw % (n, n, n))
        conn.logout()
    assert compare(_snapshot(source), _snapshot(target)).exact
    before = _snapshot(target)

    conn = imap_login(target.host, target.port, "alice", target.password())
    conn.select("INBOX")
    conn.store("1", "-FLAGS", "(\\Seen)")  # flags
    conn.store("2", "-FLAGS", "($Label1)")  # keywords
    conn.store("3:5", "+FLAGS", "(\\Deleted)")
    conn.expunge()  # 3, 4 and 5 gone ...
    conn.append("INBOX", "(\\Seen $Label1)", date, raw % (3, 3, 3))  # 3 back, exact
    conn.append("INBOX", "(\\Seen $Label1)", date, raw % (3, 3, 3))  # ... and once more: extra
    conn.append("INBOX", "(\\Seen $Label1)", date,  # 4 back with a header injected
                b"X-Imported: yes\r\n" + raw % (4, 4, 4))
    later = imaplib.Time2Internaldate(dt.datetime(2043, 1, 1, tzinfo=dt.UTC))
    conn.append("INBOX", "(\\Seen $Label1)", later, raw % (5, 5, 5))  # 5 back, date differs
    conn.create("Extra")
    conn.logout()

    comparison = compare(_snapshot(source), _snapshot(target))
    counts = comparison.counts()
    assert counts == {"flags": 1, "keywords": 1, "extra": 1, "body": 1,
                      "body:headers": 1, "date": 1}, comparison.differences
    assert comparison.extra_folders == ["Extra"]
    assert duplicates(before, _snapshot(target)) == 1  # 3 expunged, 4 appended

    conn = imap_login(source.host, source.port, "alice", source.password())
    conn.select("INBOX")
    conn.store("6", "+FLAGS", "(\\Deleted)")
    conn.expunge()
    conn.logout()
    counts = compare(_snapshot(source), _snapshot(target)).counts()
    assert counts["extra"] == 2  # the source lost 6: the target's copy is now extra too
    assert counts.get("missing", 0) == 0


def test_folders_the_target_lacks_are_reported(dovecot_factory: Callable[..., Dovecot]) -> None:
    source, target = dovecot_factory(), dovecot_factory()
    box = [m for m in matrix_mailbox(generated=12, corpus=0) if m.folder in FOLDERS[:3]]
    seed_mailbox(source.host, source.port, "alice", source.password(), box)
    counts = compare(_snapshot(source), _snapshot(target)).counts()
    # every matrix folder is created; the target Dovecot already has INBOX, Archive, Sent, Drafts
    assert counts["folder_missing"] == len(FOLDERS) - 4
    assert counts["missing"] == len(box)
    assert wire_name(("Archive", "2003"), ".", "INBOX.") == "INBOX.Archive.2003"
