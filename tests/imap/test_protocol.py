"""The I/O-free IMAP protocol by tables: what goes out for each command (synchronising
literals, LITERAL+, MULTIAPPEND), how a byte stream split anywhere frames into responses,
what a tagged status becomes. Bytes in, bytes or typed values out; no server, no socket."""

from __future__ import annotations

import pytest

from mailferry.errors import (
    AuthorizationFailed,
    CommandFailed,
    MailferryError,
    ProtocolError,
    TryAgainLater,
)
from mailferry.imap.protocol import (
    AppendMessage,
    ImapProtocol,
    Literal,
    ResponseReader,
    Tagged,
    append_args,
    command_frames,
    is_bye,
    is_continuation,
    plain_sasl,
    refusal,
    tagged_reply,
    transient_code,
    xoauth2_sasl,
)
from mailferry.imap.wire import Response, SkippedLiteral

BIG = 1 << 30

# -- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("verb", "args", "plus", "frames"), [
    (b"NOOP", [], False, [b"M1 NOOP\r\n"]),
    (b"UID FETCH", [b"1:5", b"(UID FLAGS)"], False, [b"M1 UID FETCH 1:5 (UID FLAGS)\r\n"]),
    (b"SELECT", [b'"INBOX"', b"(CONDSTORE)"], True, [b'M1 SELECT "INBOX" (CONDSTORE)\r\n']),
    # a name a quoted string cannot hold: LITERAL+ sends it at once...
    (b"CREATE", [Literal(b"Caf\xc3\xa9")], True, [b"M1 CREATE {5+}\r\nCaf\xc3\xa9\r\n"]),
    # ... without it the marker goes alone and the data waits for the server's "+"
    (b"CREATE", [Literal(b"Caf\xc3\xa9")], False, [b"M1 CREATE {5}\r\n", b"Caf\xc3\xa9\r\n"]),
    (b"LOGIN", [Literal(b"\xc3\xbcser"), Literal(b"pw\r\n")], False,
     [b"M1 LOGIN {5}\r\n", b"\xc3\xbcser {4}\r\n", b"pw\r\n\r\n"]),
    (b"LOGIN", [Literal(b"\xc3\xbcser"), Literal(b"pw\r\n")], True,
     [b"M1 LOGIN {5+}\r\n\xc3\xbcser {4+}\r\npw\r\n\r\n"]),
    (b"RENAME", [Literal(b""), b'"b"'], False, [b"M1 RENAME {0}\r\n", b' "b"\r\n']),
])
def test_command_frames(verb: bytes, args: list[bytes | Literal], plus: bool,
                        frames: list[bytes]) -> None:
    out = command_frames(b"M1", verb, args, literal_plus=plus)
    assert [b"".join(frame) for frame in out] == frames


def test_literal_data_is_written_from_the_callers_object() -> None:
    body = b"x" * 100_000
    for plus in (True, False):
        frames = command_frames(b"M1", b"APPEND",
                                append_args(b'"INBOX"', [AppendMessage(body)]),
                                literal_plus=plus)
        assert any(piece is body for frame in frames for piece in frame)


@pytest.mark.parametrize(("messages", "plus", "frames"), [
    ([AppendMessage(b"one")], True, [b'M1 APPEND "INBOX" () {3+}\r\none\r\n']),
    ([AppendMessage(b"one", ("\\Seen", "$Work"), "01-Jan-2020 10:00:00 +0100")], False,
     [b'M1 APPEND "INBOX" (\\Seen $Work) "01-Jan-2020 10:00:00 +0100" {3}\r\n', b"one\r\n"]),
    # MULTIAPPEND (RFC 3502): one command, one (flags date literal) group per message
    ([AppendMessage(b"one"), AppendMessage(b"two!", ("\\Flagged",))], True,
     [b'M1 APPEND "INBOX" () {3+}\r\none (\\Flagged) {4+}\r\ntwo!\r\n']),
    ([AppendMessage(b"one"), AppendMessage(b"two!", ("\\Flagged",))], False,
     [b'M1 APPEND "INBOX" () {3}\r\n', b"one (\\Flagged) {4}\r\n", b"two!\r\n"]),
])
def test_append_framing(messages: list[AppendMessage], plus: bool, frames: list[bytes]) -> None:
    out = command_frames(b"M1", b"APPEND", append_args(b'"INBOX"', messages), literal_plus=plus)
    assert [b"".join(frame) for frame in out] == frames


def test_tags_count_up_and_name_the_command_in_errors() -> None:
    protocol = ImapProtocol("imap://u@h:143")
    assert protocol.command(b"NOOP", [], name="NOOP", literal_plus=False)[0] == b"M1"
    tag, frames = protocol.command(b"UID STORE", [b"1", b"+FLAGS", b"(\\Seen)"],
                                   name="UID STORE", literal_plus=False)
    assert tag == b"M2" and frames == [[b"M2 UID STORE 1 +FLAGS (\\Seen)\r\n"]]
    error = protocol.failure(Tagged(b"NO", b"[OVERQUOTA] full"))
    assert (error.server, error.command) == ("imap://u@h:143", "UID STORE")


def test_sasl_messages() -> None:
    assert plain_sasl("", "alice", "pw") == b"\0alice\0pw"
    assert plain_sasl("bob", "admin", "pw") == b"bob\0admin\0pw"
    assert xoauth2_sasl("a@x", "tok") == b"user=a@x\x01auth=Bearer tok\x01\x01"


# -- framing responses ------------------------------------------------------------------------

STREAM = (b"* 1 FETCH (UID 7 BODY[] {12}\r\nhello\r\nworld UID 7)\r\n"
          b"* 3 EXISTS\r\n"
          b"* LIST (\\HasNoChildren) NIL {5}\r\nA\"B\r\n\r\n"
          b"+ go ahead\r\n"
          b"M1 OK done\r\n")
EXPECTED = [
    Response([b"* 1 FETCH (UID 7 BODY[] {12}\r\n", b" UID 7)\r\n"], [b"hello\r\nworld"]),
    Response([b"* 3 EXISTS\r\n"]),
    Response([b"* LIST (\\HasNoChildren) NIL {5}\r\n", b"\r\n"], [b"A\"B\r\n"]),
    Response([b"+ go ahead\r\n"]),
    Response([b"M1 OK done\r\n"]),
]


def framed(chunks: list[bytes], max_literal: int = BIG, *,
           direct: bool = False) -> list[Response]:
    """Frame `chunks` as they would arrive from a socket; with `direct`, the way the session
    reads: a literal not buffered whole is drained, then read whole from the "socket"."""
    reader = ResponseReader()
    pending = list(chunks)
    out: list[Response] = []
    while True:
        response = reader.next_response(max_literal)
        if response is not None:
            out.append(response)
        elif direct and reader.literal_wanted:
            wanted = reader.literal_wanted
            head = bytearray(wanted)
            got = reader.drain(memoryview(head))
            assert reader.drain(memoryview(head)[got:]) == 0  # nothing more buffered
            rest = b"".join(pending)
            reader.literal_read(bytes(head[:got]) + rest[:wanted - got])
            pending = [rest[wanted - got:]]
        elif pending:
            reader.receive_data(pending.pop(0))
        else:
            break
    assert reader.state == "" and reader.buffered == 0
    return out


def test_a_stream_in_one_piece() -> None:
    assert framed([STREAM]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_a_stream_cut_anywhere(cut: int) -> None:
    """Lines and literals split across reads at every position frame the same."""
    assert framed([STREAM[:cut], STREAM[cut:]]) == EXPECTED
    assert framed([STREAM[:cut], STREAM[cut:]], direct=True) == EXPECTED


def test_a_stream_byte_by_byte() -> None:
    one_by_one = [STREAM[pos:pos + 1] for pos in range(len(STREAM))]
    assert framed(one_by_one) == EXPECTED
    assert framed(one_by_one, direct=True) == EXPECTED


def test_a_long_literal_is_read_by_the_caller_in_one_piece() -> None:
    body = bytes(range(256)) * 4000
    reader = ResponseReader()
    reader.receive_data(b"* 1 FETCH (BODY[] {%d}\r\n" % len(body) + body[:1000])
    assert reader.next_response(BIG) is None and reader.state == "literal"
    assert reader.literal_wanted == len(body)
    into = bytearray(5000)
    assert reader.drain(memoryview(into)) == 1000 and into[:1000] == body[:1000]
    assert reader.drain(memoryview(into)) == 0
    with pytest.raises(ValueError):
        reader.literal_read(body[:-1])
    reader.literal_read(body)
    assert reader.literal_wanted == 0 and reader.state == "line"
    reader.receive_data(b")\r\n")
    response = reader.next_response(BIG)
    assert response is not None and response.literals == [body]


def test_drain_stops_at_the_literals_end() -> None:
    reader = ResponseReader()
    reader.receive_data(b"* 1 FETCH (BODY[] {10}\r\n0123)\r\n")  # fewer than announced
    assert reader.next_response(BIG) is None
    into = bytearray(100)
    assert reader.drain(memoryview(into)) == 7  # the caller reads the rest off the socket
    reader.literal_read(b"0123)\r\nabc")
    reader.receive_data(b")\r\n")
    response = reader.next_response(BIG)
    assert response is not None and response.literals == [b"0123)\r\nabc"]


def test_an_empty_literal() -> None:
    assert framed([b"* 1 FETCH (BODY[] {0}\r\n UID 3)\r\n"]) == [
        Response([b"* 1 FETCH (BODY[] {0}\r\n", b" UID 3)\r\n"], [b""])]


@pytest.mark.parametrize("cut", [0, 1, 20, 30, 33, 40])
def test_a_literal_above_the_cap_is_skipped(cut: int) -> None:
    stream = b"* 1 FETCH (UID 4 BODY[] {20}\r\n" + b"s" * 20 + b" UID 4)\r\nM1 OK\r\n"
    responses = framed([stream[:cut], stream[cut:]], max_literal=19)
    assert responses[0].literals == [SkippedLiteral(20)]
    assert responses[0].tokens()[3] == [b"UID", b"4", b"BODY[]", SkippedLiteral(20),
                                        b"UID", b"4"]
    assert responses[1].head == b"M1 OK\r\n"


def test_a_skipped_literal_drains_through_the_scratch_buffer() -> None:
    reader = ResponseReader()
    reader.receive_data(b"* 1 FETCH (BODY[] {600000}\r\n")
    assert reader.next_response(10) is None
    left = 600_000
    while left:
        view = reader.into()
        assert view is not None and 0 < len(view) <= left
        reader.received_into(len(view))
        left -= len(view)
    reader.receive_data(b")\r\n")
    response = reader.next_response(10)
    assert response is not None and response.literals == [SkippedLiteral(600_000)]


@pytest.mark.parametrize(("stream", "state"), [
    (b"", ""),
    (b"* OK", "line"),
    (b"* 1 FETCH (BODY[] {5}\r\nab", "literal"),
    (b"* 1 FETCH (BODY[] {5}\r\nabcde", "line"),  # the rest of the line is still to come
    (b"* 1 FETCH (BODY[] {5}\r\n", "literal"),
])
def test_what_an_eof_would_cut(stream: bytes, state: str) -> None:
    reader = ResponseReader()
    reader.receive_data(stream)
    assert reader.next_response(BIG) is None
    assert reader.state == state


def test_a_line_without_end_is_refused_at_the_limit() -> None:
    protocol = ImapProtocol("imap://u@h:143")
    protocol.next_tag("UID SEARCH")
    protocol.reader = ResponseReader(max_line=100)
    protocol.reader.receive_data(b"* SEARCH " + b"1 " * 60)
    with pytest.raises(ProtocolError) as caught:
        protocol.next_response(BIG)
    assert (caught.value.server, caught.value.command) == ("imap://u@h:143", "UID SEARCH")
    assert "longer than 100 bytes" in str(caught.value)


def test_a_line_just_under_the_limit_passes() -> None:
    reader = ResponseReader(max_line=100)
    line = b"* SEARCH " + b"1" * 89 + b"\r\n"
    assert len(line) == 100
    reader.receive_data(line)
    response = reader.next_response(BIG)
    assert response is not None and response.head == line


def test_a_marker_is_a_literal_only_at_the_end_of_a_line() -> None:
    # a quoted "{3}" mid-line is text; a marker with LITERAL+'s "+" from a server still counts
    responses = framed([b'* LIST () "/" "a{3}b"\r\n* 1 FETCH (BODY[] {3+}\r\nabc)\r\n'])
    assert responses[0].literals == [] and responses[0].tokens()[4] == b"a{3}b"
    assert responses[1].literals == [b"abc"]


def test_restart_reading_drops_what_came_before_tls() -> None:
    # STARTTLS injection: bytes the server (or a man in the middle) sent in clear text
    # right after the tagged OK must not be read as answers once TLS is up
    protocol = ImapProtocol()
    protocol.reader.receive_data(b"M1 OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1] fake\r\n")
    first = protocol.next_response(BIG)
    assert first is not None and first.head == b"M1 OK begin TLS\r\n"
    protocol.restart_reading()
    assert protocol.next_response(BIG) is None


# -- tagged status --------------------------------------------------------------------------


@pytest.mark.parametrize(("head", "tag", "tagged"), [
    (b"M1 OK done\r\n", b"M1", Tagged(b"OK", b"done")),
    (b"M1 ok [APPENDUID 1 2] x\r\n", b"M1", Tagged(b"OK", b"[APPENDUID 1 2] x")),
    (b"M1 NO\r\n", b"M1", Tagged(b"NO", b"")),
    (b"M12 OK done\r\n", b"M1", None),  # another command's tag
    (b"M1 OK done\r\n", b"M12", None),
    (b"* OK [UIDNEXT 4]\r\n", b"M1", None),
    (b"+ \r\n", b"M1", None),
])
def test_tagged_reply(head: bytes, tag: bytes, tagged: Tagged | None) -> None:
    assert tagged_reply(head, tag) == tagged


def test_continuations_and_bye() -> None:
    assert is_continuation(b"+ go\r\n") and is_continuation(b"+\r\n")
    assert not is_continuation(b"* OK\r\n")
    assert is_bye(b"* BYE shutting down\r\n") and not is_bye(b"* OK BYE\r\n")


@pytest.mark.parametrize(("status", "text", "kind", "delay"), [
    (b"NO", b"[OVERQUOTA] mailbox full", CommandFailed, None),
    (b"NO", b"[AUTHORIZATIONFAILED] not yours", AuthorizationFailed, None),
    (b"NO", b"[UNAVAILABLE] backend down", TryAgainLater, None),
    (b"NO", b"[INUSE] mailbox locked", TryAgainLater, None),
    (b"NO", b"[THROTTLED] slow down", TryAgainLater, None),
    (b"NO", b"Server busy, try again later", TryAgainLater, None),
    (b"NO", b"[OVERQUOTA] try again later", CommandFailed, None),  # the code decides
    (b"BAD", b"Request is throttled. Suggested Backoff Time: 92415 milliseconds",
     TryAgainLater, 92.415),
    (b"BAD", b"Command syntax error", CommandFailed, None),
    (b"NO", b"\xff\xfe bad bytes", CommandFailed, None),
])
def test_refusals(status: bytes, text: bytes, kind: type[MailferryError],
                  delay: float | None) -> None:
    error = refusal("APPEND", status, text, server="imap://u@h:143")
    assert type(error) is kind
    assert error.command == "APPEND" and error.server == "imap://u@h:143"
    assert error.text == text.decode("utf-8", "replace").strip()
    assert getattr(error, "delay", None) == delay


@pytest.mark.parametrize(("words", "transient"), [
    ("[UNAVAILABLE] later", True), ("[INUSE]", True), ("try again later", False),
    ("[AUTHENTICATIONFAILED] try again", False), ("", False),
])
def test_transient_code(words: str, transient: bool) -> None:
    assert transient_code(words) is transient
