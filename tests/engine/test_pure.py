"""Engine parts that need no server: fingerprints, folder planning, flag filtering."""

from __future__ import annotations

import pytest

from mailferry.engine import FolderFilters, fingerprint, header_block, message_id
from mailferry.engine.folders import Folder, folders_from_listing, plan_folders
from mailferry.imap import ListEntry, Namespace


@pytest.mark.parametrize(("a", "b", "same"), [
    (b"Subject: x\r\nMessage-ID: <1@a>\r\n\r\nbody",
     b"Subject: x\nMessage-ID: <1@a>\n\nother", True),
    (b"Subject: x  \r\n\r\nb", b"Subject: x\r\n\r\nb", True),  # trailing blanks
    (b"Subject: x\r\nX: a\x00b\r\n\r\n", b"Subject: x\r\nX: a\x80b\r\n\r\n", True),  # NUL rewrite
    (b"Subject: x\r\nMessage-ID: <1@a>\r\n\r\n", b"Subject: x\r\nMessage-ID: <2@a>\r\n\r\n", False),
    (b"Subject: draft\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n",
     b"Subject: draft\r\nDate: Mon, 1 Jan 2024 10:00:01 +0000\r\n\r\n", False),
    (b"no blank line at all\r\nX: y", b"no blank line at all\nX: y\n", True),
])
def test_fingerprint(a: bytes, b: bytes, same: bool) -> None:
    assert (fingerprint(a) == fingerprint(b)) is same


def test_header_block_and_message_id() -> None:
    raw = b"Message-ID:\r\n <folded@x>\r\nSubject: s\r\n\r\nbody\r\n\r\nmore"
    assert header_block(raw) == b"Message-ID:\n <folded@x>\nSubject: s\n"
    assert message_id(raw) == "<folded@x>"
    assert message_id(b"Subject: none\r\n\r\n") is None


def _entry(name: bytes, delimiter: str, *attrs: str) -> ListEntry:
    return ListEntry(name, delimiter, frozenset(attrs))


def test_plan_maps_prefix_delimiter_special_use_and_filters() -> None:
    dot = Namespace(b"INBOX.", ".")
    slash = Namespace(b"", "/")
    source = folders_from_listing([
        _entry(b"INBOX", "."), _entry(b"INBOX.Sent Messages", ".", "\\Sent"),
        _entry(b"INBOX.Sent Messages.2019", "."), _entry(b"INBOX.Trash", ".", "\\Trash"),
        _entry(b"INBOX.Caf&AOk-", "."), _entry(b"INBOX.a/b", "."), _entry(b"INBOX.Old", "."),
    ], {b"INBOX.Caf&AOk-"}, dot)
    target = folders_from_listing([_entry(b"INBOX", "/"),
                                   _entry(b"Sent Items", "/", "\\Sent")], set(), slash)
    plan = plan_folders(source, target, slash, FolderFilters(
        exclude_special=("\\Trash",), renames=(("Old", "Archive/Old"),)))
    got = {p.source.display: (p.target_wire, p.target_exists) for p in plan.pairs}
    assert got == {
        "INBOX": (b"INBOX", True),
        "Sent Messages": (b"Sent Items", True),
        "Sent Messages/2019": (b"Sent Items/2019", False),
        "Café": (b"Caf&AOk-", False),
        "a/b": (b"a_b", False),
        "Old": (b"Archive/Old", False),
    }
    assert [e.source.display for e in plan.excluded] == ["Trash"]
    assert next(p for p in plan.pairs if p.source.display == "Café").subscribe


def test_two_source_folders_never_merge_into_one_target() -> None:
    slash = Namespace(b"", "/")
    source = [Folder(b"Sent", ("Sent",), "\\Sent", True, False),
              Folder(b"Sent Items", ("Sent Items",), None, True, False)]
    target = [Folder(b"Sent Items", ("Sent Items",), "\\Sent", True, False)]
    plan = plan_folders(source, target, slash, FolderFilters())
    wires = [p.target_wire for p in plan.pairs]
    assert len(set(wires)) == 2 and b"Sent Items" in wires


@pytest.mark.parametrize(("flags", "permanent", "kept", "dropped"), [
    (["\\Seen", "\\Recent", "$Label1"], ["\\Seen", "\\*"], ["\\Seen", "$Label1"], []),
    (["\\Seen", "$NotJunk", "Work"], ["\\Seen", "\\Flagged", "Work"], ["\\Seen", "Work"],
     ["$NotJunk"]),
    (["$Label1", "\\Answered"], [], ["$Label1", "\\Answered"], []),  # server did not say
    (["bad(keyword", "\\Custom"], ["\\*"], [], ["bad(keyword", "\\Custom"]),
])
def test_keywords_the_target_refuses_are_dropped_and_counted(
        flags: list[str], permanent: list[str], kept: list[str], dropped: list[str]) -> None:
    from mailferry.engine.sync import allowed_flags

    assert allowed_flags(flags, permanent) == (kept, dropped)
