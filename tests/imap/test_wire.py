"""IMAP wire parsing: pure, table-driven, no sockets."""

from __future__ import annotations

import pytest

from mailferry.errors import ConfigError, ProtocolError
from mailferry.imap import parse_mailbox_url
from mailferry.imap.names import decode_name, encode_name
from mailferry.imap.protocol import Literal, astring, quote, uid_set
from mailferry.imap.wire import (
    Response,
    parse_fetch,
    parse_list,
    parse_status,
    parse_uid_set,
    response_code,
    tokenize,
)
from mailferry.urls import ServerURL


@pytest.mark.parametrize(("parts", "literals", "expected"), [
    ([b"* 1 FETCH (UID 5)\r\n"], [], [b"*", b"1", b"FETCH", [b"UID", b"5"]]),
    ([b'* LIST (\\HasNoChildren) "/" "a \\"q\\" b"\r\n'], [],
     [b"*", b"LIST", [b"\\HasNoChildren"], b"/", b"a \"q\" b"]),
    ([b"* LIST () NIL INBOX\r\n"], [], [b"*", b"LIST", [], None, b"INBOX"]),
    ([b"* 2 FETCH (BODY[] {3}\r\n", b" UID 9)\r\n"], [b"NIL"],
     [b"*", b"2", b"FETCH", [b"BODY[]", b"NIL", b"UID", b"9"]]),
    ([b"* 3 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n", b")\r\n"], [b"ab"],
     [b"*", b"3", b"FETCH", [b"BODY[HEADER.FIELDS (MESSAGE-ID)]", b"ab"]]),
])
def test_tokenize(parts: list[bytes], literals: list[bytes], expected: list[object]) -> None:
    assert tokenize(parts, literals) == expected


def test_literal_is_data_and_passed_on_without_a_copy() -> None:
    body = b"NIL" * 1000
    tokens = tokenize([b"* 1 FETCH (BODY[] {3000}\r\n", b")\r\n"], [body])
    assert isinstance(tokens[3], list) and tokens[3][1] is body


@pytest.mark.parametrize("bad", [[b"* 1 FETCH (UID 5))\r\n"], [b'* LIST () "/" "unterminated\r\n']])
def test_malformed_responses_raise_protocol_error(bad: list[bytes]) -> None:
    with pytest.raises(ProtocolError):
        tokenize(bad, [])


def test_parse_fetch_reads_metadata_and_keeps_the_body_untouched() -> None:
    body = b"Subject: x\r\n\r\n(unbalanced ) \"quotes {12}\r\n"
    response = Response([b'* 7 FETCH (UID 42 FLAGS (\\Seen $Label1) INTERNALDATE '
                         b'"17-May-2020 09:30:00 +0200" RFC822.SIZE 99 MODSEQ (12) BODY[] {%d}\r\n'
                         % len(body), b")\r\n"], [body])
    item = parse_fetch(response.tokens())
    assert (item.seq, item.uid, item.flags, item.size, item.modseq) == (
        7, 42, ("\\Seen", "$Label1"), 99, 12)
    assert item.internaldate == "17-May-2020 09:30:00 +0200"
    assert item.body == body


def test_parse_list_and_status() -> None:
    line = b'* LIST (\\HasNoChildren \\Sent) "." "INBOX.Sent Items"\r\n'
    entry = parse_list(tokenize([line], []))
    assert entry.name == b"INBOX.Sent Items" and entry.delimiter == "." and entry.selectable
    assert "\\Sent" in entry.attributes
    noselect = parse_list(tokenize([b'* LIST (\\Noselect) "/" Archive\r\n'], []))
    assert not noselect.selectable
    name, status = parse_status(tokenize([b"* STATUS Work (MESSAGES 3 UIDNEXT 9 UIDVALIDITY 7 "
                                          b"HIGHESTMODSEQ 20)\r\n"], []))
    assert name == b"Work" and status == {"MESSAGES": 3, "UIDNEXT": 9, "UIDVALIDITY": 7,
                                          "HIGHESTMODSEQ": 20}


@pytest.mark.parametrize(("line", "expected", "name", "status"), [
    (b'* STATUS "Old Mail" (MESSAGES 2)\r\n', None, b"Old Mail", {"MESSAGES": 2}),
    # GNU imap4d 3.15 sends a name with a space unquoted (issue 20, point 2)
    (b"* STATUS Archive 2003 (MESSAGES 3 UIDNEXT 4)\r\n", None, b"Archive 2003",
     {"MESSAGES": 3, "UIDNEXT": 4}),
    (b"* STATUS Old  Mail 2003 (MESSAGES 1)\r\n", b"Old  Mail 2003", b"Old  Mail 2003",
     {"MESSAGES": 1}),
    (b"* STATUS Old Mail (MESSAGES 1)\r\n", b"Other", b"Old Mail", {"MESSAGES": 1}),
    (b"* STATUS INBOX ()\r\n", b"INBOX", b"INBOX", {}),
])
def test_parse_status_names(line: bytes, expected: bytes | None, name: bytes,
                            status: dict[str, int]) -> None:
    assert parse_status(tokenize([line], []), expected) == (name, status)


@pytest.mark.parametrize("line", [b"* STATUS (MESSAGES 1)\r\n", b"* STATUS INBOX MESSAGES 1\r\n",
                                  b"* STATUS (x) INBOX (MESSAGES 1)\r\n"])
def test_parse_status_refuses_what_is_ambiguous(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_status(tokenize([line], []))


@pytest.mark.parametrize(("uids", "text"), [
    ([1, 2, 3, 7, 9, 10], b"1:3,7,9:10"), ([5], b"5"), ([3, 1, 2, 2], b"1:3")])
def test_uid_sets_round_trip(uids: list[int], text: bytes) -> None:
    assert uid_set(uids) == text
    assert parse_uid_set(text) == sorted(set(uids))


def test_response_codes_and_quoting() -> None:
    code = response_code(b"OK [APPENDUID 38505 3955:3957] done")
    assert code == ("APPENDUID", b"38505 3955:3957")
    assert response_code(b"OK done") is None
    assert quote('a"b\\c') == b'"a\\"b\\\\c"'
    assert astring("Café".encode()) == Literal(b"Caf\xc3\xa9")
    with pytest.raises(ValueError):
        quote("a\r\nb")


@pytest.mark.parametrize(("unicode", "wire"), [
    ("Café", b"Caf&AOk-"), ("日本語", b"&ZeVnLIqe-"), ("A&B", b"A&-B"), ("Plain", b"Plain")])
def test_modified_utf7_round_trip(unicode: str, wire: bytes) -> None:
    assert encode_name(unicode) == wire
    assert decode_name(wire) == unicode


@pytest.mark.parametrize(("url", "scheme", "host", "port", "user"), [
    ("imap://alice@127.0.0.1:1143", "imap", "127.0.0.1", 1143, "alice"),
    ("imaps://bob%40corp.example@imap.example.org", "imaps", "imap.example.org", 993,
     "bob@corp.example"),
    ("imap://carol@[::1]:143", "imap", "::1", 143, "carol"),
])
def test_endpoint_parsing(url: str, scheme: str, host: str, port: int, user: str) -> None:
    endpoint = parse_mailbox_url(url)
    assert (endpoint.scheme, endpoint.host, endpoint.port, endpoint.user) == (
        scheme, host, port, user)


@pytest.mark.parametrize("url", ["pop3://a@h", "imap://h:143", "imap://a@h:notaport",
                                 "imap://a:pw@h", "imap://a@h/INBOX", "imap//a@h"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mailbox_url(url)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("localhost", True),
    ("10.0.0.1", False), ("imap.example.org", False)])
def test_cleartext_is_only_for_loopback(host: str, loopback: bool) -> None:
    assert ServerURL("imap", host, 143, "u").is_loopback is loopback
