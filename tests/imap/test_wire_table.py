"""IMAP wire parsing by tables: every refusal names what it refused, every FETCH item name the
engine may meet, quoting boundaries, untagged responses picked by kind (rows found by
mutation testing of imap/wire.py)."""

from __future__ import annotations

import pytest

from mailferry.errors import ProtocolError
from mailferry.imap.protocol import Literal, astring, quote, uid_set
from mailferry.imap.wire import (
    Response,
    SkippedLiteral,
    iter_untagged,
    parse_fetch,
    parse_list,
    parse_status,
    parse_uid_set,
    response_code,
    tokenize,
)


def tokens(line: bytes, *literals: bytes | SkippedLiteral) -> list[object]:
    parts = line.split(b"\x00")  # \x00 marks where a literal follows, in these tables
    return tokenize(parts, list(literals))  # type: ignore[return-value]


@pytest.mark.parametrize(("line", "literals", "expected"), [
    # nested lists, and an atom right before a closing parenthesis
    (b"* X (a (b c) d)\r\n", [], [b"*", b"X", [b"a", [b"b", b"c"], b"d"]]),
    # a literal inside a nested list lands in that list
    (b"* 1 FETCH (A (B {1}\r\n\x00) C)\r\n", [b"z"], [b"*", b"1", b"FETCH", [b"A", [b"B", b"z"],
                                                                           b"C"]]),
    # brackets: inner spaces and parentheses kept; an atom ends after the closing bracket
    (b"* 1 FETCH (BODY[HEADER.FIELDS (A B)]<0> x)\r\n", [],
     [b"*", b"1", b"FETCH", [b"BODY[HEADER.FIELDS (A B)]<0>", b"x"]]),
    (b"* OK [A [B] C] text\r\n", [], [b"*", b"OK", b"[A [B] C]", b"text"]),
    (b"* OK [A]B C\r\n", [], [b"*", b"OK", b"[A]B", b"C"]),
    (b"* OK A]B (C)\r\n", [], [b"*", b"OK", b"A]B", [b"C"]]),  # a stray ']' is part of it
    # quoted strings: escapes, an escaped quote, an empty string
    (b'* X "a\\\\b" "q\\"" ""\r\n', [], [b"*", b"X", b"a\\b", b'q"', b""]),
    # an atom at the very end of the text, no line end
    (b"* X last", [], [b"*", b"X", b"last"]),
])
def test_tokenize_more(line: bytes, literals: list[bytes], expected: list[object]) -> None:
    assert tokens(line, *literals) == expected


@pytest.mark.parametrize(("line", "literals", "message"), [
    (b"* X a)\r\n", [], "unbalanced '\\)' in b'\\* X a\\)"),
    (b"* X {3}\r\n", [], "literal marker without literal in b'\\* X \\{3\\}"),
    (b'* X "open\r\n', [], "unterminated quoted string in b'\\* X \"open"),
    (b'* X "ends in a backslash\\', [], "unterminated quoted string"),
])
def test_refusals_name_the_text(line: bytes, literals: list[bytes], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        tokens(line, *literals)


def test_refusals_quote_at_most_200_bytes() -> None:
    line = b"* X " + b"a" * 196 + b"!" + b"b" * 100 + b")"
    with pytest.raises(ProtocolError) as caught:
        tokenize([line], [])
    assert b"a" * 196 in str(caught.value).encode() and "!" not in str(caught.value)


@pytest.mark.parametrize(("value", "wire"), [
    ("plain", b'"plain"'),
    ('a "b" \\c', b'"a \\"b\\" \\\\c"'),
    (b"~tilde", b'"~tilde"'),  # 0x7E is still quotable
    (b"del\x7f", Literal(b"del\x7f")),
    ("Café".encode(), Literal(b"Caf\xc3\xa9")),
    (b"nul\x00", Literal(b"nul\x00")),
    (b"cr\r", Literal(b"cr\r")),
    (b"lf\n", Literal(b"lf\n")),
    (b"\x01\x0b\x0e", b'"\x01\x0b\x0e"'),  # other control bytes are quotable
])
def test_astring(value: str | bytes, wire: bytes | Literal) -> None:
    assert astring(value) == wire


@pytest.mark.parametrize("value", ["a\rb", "a\nb", b"\r", b"\n"])
def test_quote_refuses_line_ends(value: str | bytes) -> None:
    with pytest.raises(ValueError, match="CR/LF cannot be quoted"):
        quote(value)


def test_uid_set_edges() -> None:
    with pytest.raises(ValueError, match=r"^empty UID set$"):
        uid_set([])
    assert uid_set([5, 5, 3]) == b"3,5"
    assert parse_uid_set(b"9:7,,12") == [7, 8, 9, 12]
    with pytest.raises(ProtocolError, match="malformed UID set b'1:x'"):
        parse_uid_set(b"1:x")
    with pytest.raises(ProtocolError) as caught:
        parse_uid_set(b"x" * 199 + b"!" + b"?" * 100)
    assert "x" * 199 + "!" in str(caught.value) and "?" not in str(caught.value)


@pytest.mark.parametrize(("item", "field", "value"), [
    (b"BODY[]", "body", b"data"),
    (b"body[]", "body", b"data"),
    (b"BINARY[]", "body", b"data"),
    (b"RFC822", "body", b"data"),
    (b"BODY[HEADER]", "header", b"data"),
    (b"RFC822.HEADER", "header", b"data"),
    (b"rfc822.header", "header", b"data"),
    (b"BODY[TEXT]", None, None),  # not one the engine asks for: ignored
])
def test_fetch_item_names(item: bytes, field: str | None, value: bytes | None) -> None:
    fetched = parse_fetch(tokens(b"* 3 FETCH (UID 8 %s {4}\r\n\x00)\r\n" % item, b"data"))
    assert fetched.uid == 8
    assert (fetched.body, fetched.header) == (
        value if field == "body" else None, value if field == "header" else None)


def test_fetch_oversize_nil_and_undecodable_flags() -> None:
    skipped = parse_fetch(tokens(b"* 3 FETCH (UID 8 BODY[] {9}\r\n\x00)\r\n", SkippedLiteral(9)))
    assert (skipped.body, skipped.oversize) == (None, 9)
    header = parse_fetch(tokens(b"* 3 FETCH (BODY[HEADER] {9}\r\n\x00)\r\n", SkippedLiteral(7)))
    assert (header.header, header.oversize) == (None, 7)
    nil = parse_fetch(tokens(b"* 3 FETCH (BODY[] NIL FLAGS (\\Seen caf\xc3\xa9 x\xff) "
                             b"INTERNALDATE NIL)\r\n"))
    assert nil.body == b"" and nil.flags == ("\\Seen", "caf\u00e9", "x\ufffd")
    assert nil.internaldate == ""


@pytest.mark.parametrize(("line", "message"), [
    (b"* 3 FETCH\r\n", "malformed FETCH response"),
    (b"* 3 FETCH UID\r\n", "malformed FETCH response"),
    (b"* x FETCH (UID 1)\r\n", "expected a number for FETCH sequence number, got b'x'"),
    (b"* 3 FETCH (UID x)\r\n", "expected a number for UID, got b'x'"),
    (b"* 3 FETCH (UID (1))\r\n", "expected a number for UID, got \\[b'1'\\]"),
    (b"* 3 FETCH (RFC822.SIZE -1)\r\n", "expected a number for RFC822.SIZE, got b'-1'"),
    (b"* 3 FETCH (MODSEQ 5)\r\n", "MODSEQ is not a list: b'5'"),
    (b"* 3 FETCH (MODSEQ ())\r\n", "MODSEQ is not a list: \\[\\]"),
    (b"* 3 FETCH (MODSEQ (x))\r\n", "expected a number for MODSEQ, got b'x'"),
    (b"* 3 FETCH (FLAGS \\Seen)\r\n", "FLAGS is not a list: b'\\\\\\\\Seen'"),
    (b"* 3 FETCH ((UID) 1)\r\n", "malformed FETCH item name \\[b'UID'\\]"),
])
def test_fetch_refusals(line: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_fetch(tokens(line))


def test_fetch_refusal_shows_only_the_first_four_tokens() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_fetch(tokens(b"* 3 FETCH UID FIFTH\r\n"))
    assert "UID" in str(caught.value) and "FIFTH" not in str(caught.value)


@pytest.mark.parametrize(("line", "message"), [
    (b"* LIST (\\X) \"/\"\r\n", "malformed LIST response"),
    (b"* LIST \\X \"/\" name\r\n", "malformed LIST response"),
    (b"* LIST () \"/\" (name)\r\n", "malformed LIST mailbox name: \\[b'name'\\]"),
])
def test_list_refusals(line: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_list(tokens(line))


def test_list_attributes_and_delimiters() -> None:
    entry = parse_list(tokens(b'* LIST (\\Noselect x\xff) NIL "a b"\r\n'))
    assert (entry.name, entry.delimiter, entry.attributes) == (
        b"a b", None, frozenset({"\\Noselect", "x\ufffd"}))
    assert not entry.selectable
    assert parse_list(tokens(b'* LIST () "." INBOX\r\n')).delimiter == "."


@pytest.mark.parametrize(("line", "expected", "name"), [
    # a quoted name keeps its own spacing, whatever was asked
    (b'* STATUS "a  b" (MESSAGES 1)\r\n', b"a b", b"a  b"),
    # a name sent unquoted in two atoms is the name asked for when it reads the same
    (b"* STATUS Archive 2003 (MESSAGES 1)\r\n", b"Archive  2003", b"Archive  2003"),
    (b"* STATUS Archive 2003 (MESSAGES 1)\r\n", b"Archive 2004", b"Archive 2003"),
    (b"* STATUS Archive 2003 (MESSAGES 1)\r\n", None, b"Archive 2003"),
])
def test_status_names(line: bytes, expected: bytes | None, name: bytes) -> None:
    assert parse_status(tokens(line), expected) == (name, {"MESSAGES": 1})


@pytest.mark.parametrize("line", [b"* STATUS INBOX\r\n", b"* STATUS INBOX MESSAGES 1\r\n",
                                  b"* STATUS (x) (MESSAGES 1)\r\n"])
def test_status_refusals(line: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"^malformed STATUS response: "):
        parse_status(tokens(line))


def test_status_refusals_and_item_names() -> None:
    with pytest.raises(ProtocolError, match="expected a number for unseen, got b'x'"):
        parse_status(tokens(b"* STATUS INBOX (unseen x)\r\n"))
    assert parse_status(tokens(b"* STATUS INBOX (uidnext 4 messages 2)\r\n")) == (
        b"INBOX", {"UIDNEXT": 4, "MESSAGES": 2})


@pytest.mark.parametrize(("text", "code"), [
    (b"OK [APPENDUID 38505 3955] done", ("APPENDUID", b"38505 3955")),
    (b"NO [overquota] full", ("OVERQUOTA", b"")),
    (b"NO [X\xff y] odd", ("X\ufffd", b"y")),
    (b"OK done", None),
])
def test_response_codes(text: bytes, code: tuple[str, bytes] | None) -> None:
    assert response_code(text) == code


def test_untagged_responses_by_kind() -> None:
    responses = [Response([line]) for line in (
        b"* LIST () \"/\" INBOX\r\n", b"* list () \"/\" Work\r\n", b"* 3 EXISTS\r\n",
        b"* 4 exists\r\n", b"A1 OK LIST done\r\n", b"+ LIST\r\n", b"*\r\n", b"* 5\r\n",
        b"* STATUS INBOX (MESSAGES 1)\r\n", b"* (LIST) x\r\n", b"* SEARCH\r\n")]
    # an empty SEARCH is two tokens, and still a SEARCH
    assert list(iter_untagged(responses, b"SEARCH")) == [[b"*", b"SEARCH"]]
    assert [t[-1] for t in iter_untagged(responses, b"LIST")] == [b"INBOX", b"Work"]
    assert [t[1] for t in iter_untagged(responses, b"EXISTS")] == [b"3", b"4"]
    assert [t[2] for t in iter_untagged(responses, b"STATUS")] == [b"INBOX"]
    assert list(iter_untagged(responses, b"OK")) == []
