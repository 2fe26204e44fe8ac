"""The IMAP protocol without I/O: bytes to send out, bytes received in, typed results.

Built the way h11 is (and httpcore wraps it): `ImapProtocol` never touches a socket. The
session asks it for a command's bytes and writes them through the transport; the transport
feeds it what the socket returned and it hands back whole responses. So every framing rule
is unit-tested with byte strings (tests/imap), and no socket error can arise here.

- tags: `M1`, `M2`, ... one per command; the current command's name labels every error.
- commands: arguments are atoms/quoted strings (bytes) or `Literal`s. A command becomes
  *frames*: after each frame but the last, the client waits for the server's `+`
  (a synchronising literal, RFC 3501 4.3). With LITERAL+ (RFC 7888) advertised, literals
  are sent as `{n+}` and the whole command is one frame. APPEND with several messages is
  MULTIAPPEND (RFC 3502): the same framing, more arguments.
- responses: `ResponseReader` frames lines and literals (read by length, never scanned:
  message bodies are passed on by reference, docs/imap-client.md). A long literal may be
  read by the caller in one piece; one above the caller's cap is dropped as it arrives
  and stands as `SkippedLiteral(size)`.
- tagged status -> errors: `refusal()` turns a NO/BAD into the CommandFailed subclass the
  engine's retry policy decides on (RFC 5530 response codes first, then hopeful words).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailferry.errors import (
    AuthorizationFailed,
    CommandFailed,
    ProtocolError,
    TryAgainLater,
)
from mailferry.imap.wire import Response, SkippedLiteral, response_code

log = logging.getLogger("mailferry.imap")
MAX_LINE = 8 << 20  # a plain SEARCH answer for 1M messages is ~7 MB on one line
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r\n$")
_SKIP_CHUNK = 1 << 18

# response codes (RFC 5530) after which trying again later may succeed, and those that say
# it will not (whatever words follow them)
_TRANSIENT_CODES = {"UNAVAILABLE", "INUSE", "THROTTLED"}
_LASTING_CODES = {"AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED",
                  "CONTACTADMIN", "NOPERM", "LIMIT", "OVERQUOTA", "ALREADYEXISTS", "NONEXISTENT",
                  "CANNOT", "CLIENTBUG", "TRYCREATE", "TOOBIG"}
_TRANSIENT_WORDS = re.compile(rb"try again|temporar|throttl|too many|later|backoff", re.I)
# Microsoft 365: "Request is throttled. Suggested Backoff Time: 92415 milliseconds"
_SUGGESTED_BACKOFF = re.compile(rb"suggested backoff time:\s*(\d+)\s*milli", re.I)


# -- encoding --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Literal:
    """A command argument sent as a literal: its bytes go out as they are (never copied)."""

    data: bytes


Arg = bytes | Literal
Frame = list[bytes]  # pieces written back to back


def quote(value: str | bytes) -> bytes:
    """An IMAP quoted string (for names and dates; never for message bodies)."""
    raw = value.encode() if isinstance(value, str) else value
    if b"\r" in raw or b"\n" in raw:
        raise ValueError(f"CR/LF cannot be quoted: {raw!r}")
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def astring(value: str | bytes) -> Arg:
    """A mailbox name or argument: a literal if it holds bytes a quoted string cannot."""
    raw = value.encode() if isinstance(value, str) else value
    if any(b > 0x7E or b in (0x0D, 0x0A, 0x00) for b in raw):
        return Literal(raw)
    return quote(raw)


def uid_set(uids: Iterable[int]) -> bytes:
    """Compact UID set: [1,2,3,7,9,10] -> b'1:3,7,9:10'."""
    ordered = sorted(set(uids))
    if not ordered:
        raise ValueError("empty UID set")
    ranges: list[bytes] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        ranges.append(b"%d" % start if start == prev else b"%d:%d" % (start, prev))
        start = prev = uid
    ranges.append(b"%d" % start if start == prev else b"%d:%d" % (start, prev))
    return b",".join(ranges)


def flag_list(flags: Sequence[str]) -> bytes:
    return b"(" + " ".join(flags).encode() + b")"


@dataclass(frozen=True)
class AppendMessage:
    body: bytes
    flags: tuple[str, ...] = ()
    internaldate: str | None = None  # as FETCH INTERNALDATE gave it: passed on verbatim


def append_args(mailbox: Arg, messages: Sequence[AppendMessage]) -> list[Arg]:
    """APPEND's arguments; more than one message makes it a MULTIAPPEND (RFC 3502)."""
    args: list[Arg] = [mailbox]
    for message in messages:
        args.append(flag_list(message.flags))
        if message.internaldate:
            args.append(quote(message.internaldate))
        args.append(Literal(message.body))
    return args


def command_frames(tag: bytes, verb: bytes, args: Sequence[Arg], *,
                   literal_plus: bool) -> list[Frame]:
    """The bytes of one command. The pieces between literals are joined; a literal's data
    stays its own piece (a 25 MB body is written from the caller's object, not a copy)."""
    frames: list[Frame] = []
    frame: Frame = []
    small = [tag, b" ", verb]
    for arg in args:
        if isinstance(arg, Literal):
            size = len(arg.data)
            small.append(b" {%d+}\r\n" % size if literal_plus else b" {%d}\r\n" % size)
            if not literal_plus:  # the server's "+" comes between the marker and the data
                frames.append(frame + [b"".join(small)])
                frame, small = [], []
            if small:
                frame.append(b"".join(small))
            frame.append(arg.data)
            small = []
        else:
            small += (b" ", arg)
    small.append(b"\r\n")
    frames.append(frame + [b"".join(small)])
    return frames


def plain_sasl(authzid: str, authcid: str, secret: str) -> bytes:
    """The SASL PLAIN message (RFC 4616), before base64."""
    return f"{authzid}\0{authcid}\0{secret}".encode()


def xoauth2_sasl(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


# -- responses -------------------------------------------------------------------------------

class ResponseReader:
    """Frames the server's byte stream into `Response`s; no I/O.

    Feed it with `receive_data(bytes)`; `next_response()` returns a whole response or None
    (more bytes needed). Two ways around the buffer, for the socket's sake:
    - a literal longer than what is buffered (`literal_wanted`) may be read by the caller in
      one piece: `drain()` hands over what is buffered, the caller reads the rest into the
      same object and gives it back with `literal_read(data)` (so a 25 MB body is held once:
      transport.read_literal receives straight into the bytes it returns);
    - a literal above the cap is dropped: `into()` is scratch space to receive it into, and
      `received_into(count)` says how much arrived."""

    def __init__(self, *, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._pos = 0  # start of the unread bytes in _buf
        self._scanned = 0  # bytes after _pos known to hold no line end
        self._response: Response | None = None  # the one being read
        self._wanted = 0  # size of a literal not yet buffered whole
        self._skip = 0  # bytes of a literal above the cap still to drop
        self._scratch: bytearray | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    @property
    def literal_wanted(self) -> int:
        """The size of the literal being read, when it is not buffered whole (else 0)."""
        return self._wanted

    @property
    def state(self) -> str:
        """What the bytes so far end inside: "" (between responses), "line" or "literal"."""
        if self._wanted or self._skip:
            return "literal"
        if self._response is not None or self.buffered:
            return "line"
        return ""

    def receive_data(self, data: bytes) -> None:
        if self._pos and self._pos >= len(self._buf) // 2:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def unread(self) -> bytes:
        """What was received past the responses taken so far."""
        return bytes(self._buf[self._pos:])

    def drain(self, view: memoryview) -> int:
        """Copy buffered bytes of the wanted literal into `view`; the count (0: none left)."""
        count = min(len(view), self.buffered, self._wanted)
        if count:
            with memoryview(self._buf) as buf:
                view[:count] = buf[self._pos:self._pos + count]
            self._pos += count
        return count

    def literal_read(self, data: bytes) -> None:
        """The wanted literal, read whole by the caller (after `drain`)."""
        if len(data) != self._wanted or self._response is None:
            raise ValueError(f"a literal of {self._wanted} bytes was wanted, not {len(data)}")
        self._response.literals.append(data)
        self._wanted = 0

    def into(self) -> memoryview | None:
        """Scratch space for a literal above the cap, when nothing is buffered; else None."""
        if not self._skip or self.buffered:
            return None
        if self._scratch is None:
            self._scratch = bytearray(_SKIP_CHUNK)
        return memoryview(self._scratch)[:min(self._skip, _SKIP_CHUNK)]

    def received_into(self, count: int) -> None:
        self._skip -= count

    def next_response(self, max_literal: int) -> Response | None:
        """A whole response, or None until more bytes arrive. A literal announced larger than
        `max_literal` is skipped and stands as SkippedLiteral."""
        while True:
            if not self._finish_literal():
                return None
            line = self._line()
            if line is None:
                return None
            if self._response is None:
                self._response = Response([line])
            else:
                self._response.parts.append(line)
            match = _LITERAL_AT_END.search(line)
            if not match:
                response, self._response = self._response, None
                return response
            size = int(match.group(1))
            if size > max_literal:
                self._response.literals.append(SkippedLiteral(size))
                self._skip = size
            elif size:
                self._wanted = size
            else:
                self._response.literals.append(b"")

    def _line(self) -> bytes | None:
        buf, pos = self._buf, self._pos
        end = buf.find(b"\n", pos + self._scanned, pos + self.max_line)
        if end < 0:
            if self.buffered >= self.max_line:
                raise ProtocolError(f"line longer than {self.max_line} bytes")
            self._scanned = self.buffered
            return None
        with memoryview(buf) as view:
            line = bytes(view[pos:end + 1])
        self._pos, self._scanned = end + 1, 0
        return line

    def _finish_literal(self) -> bool:
        """Take the pending literal from the buffer if it is all there (or drop what is
        buffered of a skipped one); True when no literal is pending."""
        if self._skip:
            dropped = min(self._skip, self.buffered)
            self._pos += dropped
            self._skip -= dropped
            return not self._skip
        size = self._wanted
        if not size:
            return True
        if self.buffered < size:
            return False
        assert self._response is not None
        with memoryview(self._buf) as view:  # the usual case for small messages: one copy
            self._response.literals.append(bytes(view[self._pos:self._pos + size]))
        self._pos += size
        self._wanted = 0
        return True


@dataclass(frozen=True)
class Tagged:
    status: bytes  # OK / NO / BAD
    text: bytes

    @property
    def code(self) -> tuple[str, bytes] | None:
        return response_code(self.text)


def tagged_reply(head: bytes, tag: bytes) -> Tagged | None:
    """`M7 NO [OVERQUOTA] full` -> Tagged(b"NO", b"[OVERQUOTA] full") when it ends `tag`."""
    if not head.startswith(tag + b" "):
        return None
    status, _, text = head[len(tag) + 1:].rstrip(b"\r\n").partition(b" ")
    return Tagged(status.upper(), text)


def is_continuation(head: bytes) -> bool:
    return head.startswith(b"+")


def is_bye(head: bytes) -> bool:
    return head.startswith(b"* BYE")


def refusal(command: str, status: bytes, text: bytes, *, server: str) -> CommandFailed:
    """The error for a NO/BAD, by what the server said: a response code decides (RFC 5530);
    without one, throttling words mean "try again later"."""
    words = text.decode("utf-8", "replace").strip()
    message = f"{status.decode(errors='replace')} {words}"
    code = response_code(text)
    name = code[0] if code else ""
    if name == "AUTHORIZATIONFAILED":
        return AuthorizationFailed(message, server=server, command=command, text=words)
    if name in _TRANSIENT_CODES or (name not in _LASTING_CODES
                                    and _TRANSIENT_WORDS.search(text)):
        suggested = _SUGGESTED_BACKOFF.search(text)
        delay = int(suggested.group(1)) / 1000 if suggested else None
        return TryAgainLater(message, server=server, command=command, text=words, delay=delay)
    return CommandFailed(message, server=server, command=command, text=words)


def transient_code(words: str) -> bool:
    """Whether a refusal carries a code that says "later" (not just hopeful words)."""
    code = response_code(words.encode("utf-8", "replace"))
    return code is not None and code[0] in _TRANSIENT_CODES


class ImapProtocol:
    """One connection's protocol state: tags, the command in progress, the response reader.

    `server` labels errors only. Capabilities are the session's to track; the protocol is
    told whether LITERAL+ may be used for each command."""

    def __init__(self, server: str = "") -> None:
        self.server = server
        self.command_name = ""
        self.reader = ResponseReader()
        self._tag = 0

    def next_tag(self, name: str) -> bytes:
        self._tag += 1
        self.command_name = name
        log.debug("%s: %s", self.server, name)  # the name only: arguments may be secrets
        return b"M%d" % self._tag

    def command(self, verb: bytes, args: Sequence[Arg], *, name: str,
                literal_plus: bool) -> tuple[bytes, list[Frame]]:
        tag = self.next_tag(name)
        return tag, command_frames(tag, verb, args, literal_plus=literal_plus)

    def next_response(self, max_literal: int) -> Response | None:
        try:
            return self.reader.next_response(max_literal)
        except ProtocolError as exc:
            raise self.violation(str(exc)) from None

    def restart_reading(self) -> bytes:
        """After STARTTLS or COMPRESS: a new stream starts. Returns what was read past the
        last response (after STARTTLS it may not count as anything; after COMPRESS it is the
        start of the compressed stream)."""
        unread = self.reader.unread()
        self.reader = ResponseReader(max_line=self.reader.max_line)
        return unread

    def failure(self, tagged: Tagged) -> CommandFailed:
        return refusal(self.command_name, tagged.status, tagged.text, server=self.server)

    def violation(self, message: str) -> ProtocolError:
        return ProtocolError(message, server=self.server, command=self.command_name)
