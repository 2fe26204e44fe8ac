"""Typed results from raw server bytes: the bytes are framed by the protocol's reader, then
read as the session reads them. Rows are answers real servers give (Dovecot, Exchange, GNU
imap4d, Courier) and hostile ones."""

from __future__ import annotations

import pytest

from mailferry.errors import ProtocolError
from mailferry.imap import results
from mailferry.imap.protocol import ResponseReader, Tagged, tagged_reply
from mailferry.imap.wire import ListEntry, Namespace, Response


def answer(stream: bytes, tag: bytes = b"M1") -> tuple[list[Response], Tagged]:
    """The untagged responses and the tagged reply, as ImapSession.command returns them."""
    reader = ResponseReader()
    reader.receive_data(stream)
    untagged: list[Response] = []
    while (response := reader.next_response(1 << 30)) is not None:
        tagged = tagged_reply(response.head, tag)
        if tagged is not None:
            return untagged, tagged
        untagged.append(response)
    raise AssertionError("no tagged reply")


def test_select_with_unsolicited_responses_around() -> None:
    untagged, tagged = answer(
        b"* 172 EXISTS\r\n* 1 RECENT\r\n* OK [UNSEEN 12] first unseen\r\n"
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n* OK [UIDNEXT 4392] next\r\n"
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
        b"* 3 FETCH (FLAGS (\\Seen))\r\n"  # unsolicited: ignored
        b"M1 OK [READ-WRITE] [HIGHESTMODSEQ 715194045007] SELECT completed\r\n")
    selected = results.selected_from(untagged, tagged)
    assert selected == results.Selected(3857529045, 4392, 172,
                                        frozenset({"\\Deleted", "\\Seen", "\\*"}), None)


def test_select_reads_codes_in_the_tagged_reply() -> None:
    untagged, tagged = answer(b"* 0 EXISTS\r\nM1 OK [UIDVALIDITY 7] [HIGHESTMODSEQ 9] ok\r\n")
    selected = results.selected_from(untagged, tagged)
    assert (selected.uidvalidity, selected.exists) == (7, 0)


@pytest.mark.parametrize("stream", [
    b"* 3 EXISTS\r\nM1 OK done\r\n",  # no UIDVALIDITY
    b"* OK [UIDVALIDITY x12] bad\r\nM1 OK done\r\n",
    b"* many EXISTS\r\n* OK [UIDVALIDITY 1]\r\nM1 OK done\r\n",
])
def test_select_answers_that_do_not_parse(stream: bytes) -> None:
    with pytest.raises(ProtocolError):
        results.selected_from(*answer(stream))


@pytest.mark.parametrize(("tagged", "count", "uids"), [
    (b"M1 OK [APPENDUID 38505 3955] done\r\n", 1, [3955]),
    (b"M1 OK [APPENDUID 38505 3955:3957] done\r\n", 3, [3955, 3956, 3957]),
    (b"M1 OK [APPENDUID 38505 3955,3960] done\r\n", 2, [3955, 3960]),
    (b"M1 OK [APPENDUID 38505 3955:3956] done\r\n", 3, [None, None, None]),  # count differs
    (b"M1 OK [APPENDUID 38505] done\r\n", 1, [None]),
    (b"M1 OK done\r\n", 2, [None, None]),  # no UIDPLUS
])
def test_append_uids(tagged: bytes, count: int, uids: list[int | None]) -> None:
    _, reply = answer(tagged)
    assert [r.uid for r in results.append_uids(reply, count)] == uids


@pytest.mark.parametrize(("stream", "uids"), [
    (b'* ESEARCH (TAG "M1") UID ALL 1:3,7\r\nM1 OK\r\n', [1, 2, 3, 7]),
    (b"* ESEARCH (TAG \"M1\") UID\r\nM1 OK\r\n", []),  # nothing matched
    (b"* ESEARCH (TAG \"M1\") UID COUNT 2 ALL 4,9\r\nM1 OK\r\n", [4, 9]),
])
def test_esearch(stream: bytes, uids: list[int]) -> None:
    assert results.esearch_uids(answer(stream)[0]) == uids


def test_plain_search_over_several_lines() -> None:
    untagged, _ = answer(b"* SEARCH 2 4\r\n* 5 EXISTS\r\n* SEARCH 9\r\n* search\r\nM1 OK\r\n")
    assert results.search_uids(untagged) == [2, 4, 9]


@pytest.mark.parametrize(("stream", "caps"), [
    (b"* CAPABILITY IMAP4rev1 LITERAL+ idle\r\nM1 OK done\r\n",
     frozenset({"IMAP4REV1", "LITERAL+", "IDLE"})),
    (b"M1 OK [CAPABILITY IMAP4rev1 MOVE] done\r\n", frozenset({"IMAP4REV1", "MOVE"})),
    (b"* CAPABILITY A\r\nM1 OK [CAPABILITY B] done\r\n", frozenset({"B"})),  # the last word
    (b"M1 OK done\r\n", None),
])
def test_capabilities(stream: bytes, caps: frozenset[str] | None) -> None:
    assert results.capabilities_from(*answer(stream)) == caps


def test_capabilities_in_a_greeting() -> None:
    assert results.capabilities_in(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n") == \
        frozenset({"IMAP4REV1", "STARTTLS"})
    assert results.capabilities_in(b"* OK ready\r\n") is None


def test_listing_with_nil_delimiters_literal_names_and_nonexistent_parents() -> None:
    untagged, _ = answer(
        b'* LIST (\\HasChildren \\Subscribed) "/" INBOX\r\n'
        b"* LIST (\\Noselect) NIL Flat\r\n"
        b'* LIST (\\Sent \\Subscribed) "/" {10}\r\nSent Items\r\n'
        b'* LIST (\\NonExistent \\Subscribed) "/" Gone\r\n'
        b'* LIST (\\HasNoChildren) "/" "Caf&AOk-"\r\n'
        b"M1 OK\r\n")
    entries = results.list_entries(untagged)
    assert [e.name for e in entries] == [b"INBOX", b"Flat", b"Sent Items", b"Gone", b"Caf&AOk-"]
    assert entries[1] == ListEntry(b"Flat", None, frozenset({"\\Noselect"}))
    assert results.subscribed_in(entries) == {b"INBOX", b"Sent Items", b"Gone"}
    assert [e.name for e in results.existing(entries)] == [
        b"INBOX", b"Flat", b"Sent Items", b"Caf&AOk-"]


def test_lsub_entries_are_picked_by_kind() -> None:
    untagged, _ = answer(b'* LSUB () "." INBOX.Work\r\n* LIST () "." Other\r\nM1 OK\r\n')
    assert [e.name for e in results.list_entries(untagged, b"LSUB")] == [b"INBOX.Work"]


@pytest.mark.parametrize(("stream", "namespace"), [
    (b'* NAMESPACE (("" "/")) NIL NIL\r\nM1 OK\r\n', Namespace(b"", "/")),
    (b'* NAMESPACE (("INBOX." ".")) NIL (("#shared." "."))\r\nM1 OK\r\n',
     Namespace(b"INBOX.", ".")),
    (b'* NAMESPACE (("" NIL)) NIL NIL\r\nM1 OK\r\n', Namespace(b"", None)),
    (b"* NAMESPACE NIL NIL NIL\r\nM1 OK\r\n", Namespace(b"", "|")),  # falls back to LIST's
])
def test_personal_namespace(stream: bytes, namespace: Namespace) -> None:
    entries = [ListEntry(b"INBOX", None, frozenset()), ListEntry(b"a|b", "|", frozenset())]
    assert results.personal_namespace(answer(stream)[0], entries) == namespace


def test_no_namespace_command() -> None:
    assert results.personal_namespace(None, []) == Namespace(b"", None)


@pytest.mark.parametrize(("stream", "items"), [
    (b"* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 9)\r\nM1 OK\r\n",
     {"MESSAGES": 3, "UIDNEXT": 4, "UIDVALIDITY": 9}),
    # GNU imap4d sends a name with spaces unquoted
    (b"* STATUS Archive 2003 (MESSAGES 1)\r\nM1 OK\r\n", {"MESSAGES": 1}),
    (b'* STATUS "Sent Items" (messages 0 highestmodseq 12)\r\nM1 OK\r\n',
     {"MESSAGES": 0, "HIGHESTMODSEQ": 12}),
    (b"* STATUS {4}\r\nCaf\xc3 (MESSAGES 2)\r\nM1 OK\r\n", {"MESSAGES": 2}),
    (b"* 4 EXISTS\r\nM1 OK\r\n", None),  # no STATUS at all
])
def test_status(stream: bytes, items: dict[str, int] | None) -> None:
    assert results.status_items(answer(stream)[0]) == items


def test_status_with_a_value_that_is_not_a_number() -> None:
    with pytest.raises(ProtocolError):
        results.status_items(answer(b"* STATUS INBOX (MESSAGES many)\r\nM1 OK\r\n")[0])
