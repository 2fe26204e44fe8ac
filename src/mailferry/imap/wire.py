"""IMAP wire format as pure functions: bytes in, typed values out. No sockets here.

A response arrives as `Response(text_parts, literals)`: the line pieces and, between them,
the literals read by length. Message bodies stay the `bytes` objects the reader produced:
the tokenizer hands them on by reference and never scans them (docs/imap-client.md: a library's
convenience parser on bodies costs more than the whole copy should take).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from mailferry.errors import ProtocolError


@dataclass(frozen=True)
class SkippedLiteral:
    """A literal too large to keep: only its announced size."""

    size: int


# atom/string -> bytes, NIL -> None, list -> list, a literal too large to keep -> SkippedLiteral
Token = bytes | int | None | SkippedLiteral | list["Token"]


@dataclass
class Response:
    """One server response: the text of its lines and the literals between them."""

    parts: list[bytes]
    literals: list[bytes | SkippedLiteral] = field(default_factory=list)

    @property
    def head(self) -> bytes:
        return self.parts[0]

    def tokens(self) -> list[Token]:
        return tokenize(self.parts, self.literals)


_ATOM_END = frozenset(b" ()[]{}\"\r\n")


def tokenize(parts: Sequence[bytes], literals: Sequence[bytes | SkippedLiteral]) -> list[Token]:
    """Tokens of a whole response; `parts[i]` is followed by `literals[i]` if present."""
    root: list[Token] = []
    stack: list[list[Token]] = [root]
    for index, text in enumerate(parts):
        pos, end = 0, len(text)
        while pos < end:
            char = text[pos]
            if char in (0x20, 0x0D, 0x0A):
                pos += 1
            elif char == 0x28:  # (
                child: list[Token] = []
                stack[-1].append(child)
                stack.append(child)
                pos += 1
            elif char == 0x29:  # )
                if len(stack) == 1:
                    raise ProtocolError(f"unbalanced ')' in {bytes(text)[:200]!r}")
                stack.pop()
                pos += 1
            elif char == 0x22:  # "
                value, pos = _quoted(text, pos)
                stack[-1].append(value)
            elif char == 0x7B:  # {  a literal marker: the literal follows this part
                if index >= len(literals):
                    raise ProtocolError(f"literal marker without literal in {bytes(text)[:200]!r}")
                # the literal itself, not a copy (a body may be 25 MB); never atom-parsed,
                # so a literal "NIL" stays data
                stack[-1].append(literals[index])
                pos = end
            else:
                start = pos
                # an atom; BODY[...] sections keep their brackets and inner spaces
                depth = 0
                while pos < end:
                    char = text[pos]
                    if char == 0x5B:
                        depth += 1
                    elif char == 0x5D:
                        depth -= 1
                    elif depth <= 0 and char in _ATOM_END:
                        break
                    pos += 1
                atom = bytes(text[start:pos])
                stack[-1].append(None if atom == b"NIL" else atom)
    return root


def _quoted(text: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == 0x5C and pos + 1 < len(text):  # backslash escape
            out.append(text[pos + 1])
            pos += 2
        elif char == 0x22:
            return bytes(out), pos + 1
        else:
            out.append(char)
            pos += 1
    raise ProtocolError(f"unterminated quoted string in {bytes(text)[:200]!r}")


# -- sequence sets -------------------------------------------------------------------------

def parse_uid_set(text: bytes) -> list[int]:
    """b'3:5,9' -> [3, 4, 5, 9]."""
    uids: list[int] = []
    try:
        for piece in text.split(b","):
            if b":" in piece:
                low, high = sorted(int(x) for x in piece.split(b":"))
                uids.extend(range(low, high + 1))
            elif piece:
                uids.append(int(piece))
    except ValueError:
        raise ProtocolError(f"malformed UID set {bytes(text)[:200]!r}") from None
    return uids


# -- typed responses -----------------------------------------------------------------------

@dataclass(frozen=True)
class FetchItem:
    """One message of a FETCH response; only the items asked for are filled in."""

    seq: int
    uid: int | None = None
    flags: tuple[str, ...] | None = None
    internaldate: str | None = None
    size: int | None = None
    modseq: int | None = None
    body: bytes | None = None  # BODY[]
    header: bytes | None = None  # BODY[HEADER]
    oversize: int | None = None  # BODY[] or BODY[HEADER] skipped: its announced size


def _as_int(token: Token, what: str) -> int:
    if isinstance(token, bytes) and token.isdigit():
        return int(token)
    raise ProtocolError(f"expected a number for {what}, got {token!r}")


def _as_text(token: Token) -> str:
    return token.decode("utf-8", "replace") if isinstance(token, bytes) else ""


def parse_fetch(tokens: Sequence[Token]) -> FetchItem:
    """`* 12 FETCH (UID 7 FLAGS (\\Seen) ...)` tokens -> FetchItem."""
    if len(tokens) < 4 or not isinstance(tokens[3], list):
        raise ProtocolError(f"malformed FETCH response: {tokens[:4]!r}")
    seq = _as_int(tokens[1], "FETCH sequence number")
    items = tokens[3]
    values: dict[str, object] = {}
    for pos in range(0, len(items) - 1, 2):
        key, value = items[pos], items[pos + 1]
        if not isinstance(key, bytes):
            raise ProtocolError(f"malformed FETCH item name {key!r}")
        name = key.upper()
        if name == b"UID":
            values["uid"] = _as_int(value, "UID")
        elif name == b"FLAGS":
            if not isinstance(value, list):
                raise ProtocolError(f"FLAGS is not a list: {value!r}")
            values["flags"] = tuple(_as_text(flag) for flag in value)
        elif name == b"INTERNALDATE":
            values["internaldate"] = _as_text(value)
        elif name == b"RFC822.SIZE":
            values["size"] = _as_int(value, "RFC822.SIZE")
        elif name == b"MODSEQ":
            if not isinstance(value, list) or not value:
                raise ProtocolError(f"MODSEQ is not a list: {value!r}")
            values["modseq"] = _as_int(value[0], "MODSEQ")
        elif name in (b"BODY[]", b"BINARY[]", b"RFC822", b"BODY[HEADER]", b"RFC822.HEADER"):
            field_name = "body" if name in (b"BODY[]", b"BINARY[]", b"RFC822") else "header"
            if isinstance(value, SkippedLiteral):
                values["oversize"] = value.size
            else:
                values[field_name] = bytes(value) if isinstance(value, bytes) else b""
    return FetchItem(seq=seq, **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ListEntry:
    name: bytes  # wire name (modified UTF-7), as the server spelled it
    delimiter: str | None
    attributes: frozenset[str]

    @property
    def selectable(self) -> bool:
        return not ({"\\noselect", "\\nonexistent"} & {a.lower() for a in self.attributes})


@dataclass(frozen=True)
class Namespace:
    prefix: bytes  # e.g. b"INBOX." or b""
    delimiter: str | None


def parse_list(tokens: Sequence[Token]) -> ListEntry:
    """`* LIST (\\HasNoChildren \\Sent) "/" "Sent Items"` tokens -> ListEntry."""
    if len(tokens) < 5 or not isinstance(tokens[2], list):
        raise ProtocolError(f"malformed LIST response: {tokens!r}")
    attributes = frozenset(_as_text(a) for a in tokens[2])
    delimiter = tokens[3]
    name = tokens[4]
    if not isinstance(name, bytes):
        raise ProtocolError(f"malformed LIST mailbox name: {name!r}")
    return ListEntry(
        name=bytes(name),
        delimiter=delimiter.decode() if isinstance(delimiter, bytes) else None,
        attributes=attributes,
    )


def parse_status(tokens: Sequence[Token], expected: bytes | None = None,
                 ) -> tuple[bytes, dict[str, int]]:
    """`* STATUS INBOX (MESSAGES 3 UIDNEXT 4)` tokens -> (name, {"MESSAGES": 3, ...}).

    Liberal where the meaning is unambiguous: a name with spaces sent unquoted
    (`* STATUS Archive 2003 (MESSAGES 3)`, as GNU imap4d does) is the atoms before the list,
    and is `expected` (the name asked for) when it reads the same."""
    if len(tokens) < 4 or not isinstance(tokens[-1], list):
        raise ProtocolError(f"malformed STATUS response: {tokens!r}")
    words = tokens[2:-1]
    if not all(isinstance(word, bytes) for word in words):
        raise ProtocolError(f"malformed STATUS response: {tokens!r}")
    name = b" ".join(bytes(word) for word in words if isinstance(word, bytes))
    if expected is not None and len(words) > 1 and expected.split() == name.split():
        name = expected  # the spacing the tokenizer could not keep
    items = tokens[-1]
    result: dict[str, int] = {}
    for pos in range(0, len(items) - 1, 2):
        key = items[pos]
        if isinstance(key, bytes):
            result[key.decode().upper()] = _as_int(items[pos + 1], key.decode())
    return name, result


_CODE = re.compile(rb"\[([^\]]*)\]")


def response_code(text: bytes) -> tuple[str, bytes] | None:
    """`OK [APPENDUID 38505 3955] done` -> ("APPENDUID", b"38505 3955")."""
    match = _CODE.search(text)
    if not match:
        return None
    name, _, rest = match.group(1).partition(b" ")
    return name.decode("ascii", "replace").upper(), rest


def iter_untagged(responses: Iterable[Response], kind: bytes) -> Iterator[list[Token]]:
    """Tokens of the untagged responses of one kind (`LIST`, `STATUS`, ...)."""
    for response in responses:
        tokens = response.tokens()
        if len(tokens) >= 2 and tokens[0] == b"*":
            word = tokens[1]
            third = tokens[2] if len(tokens) >= 3 else None
            if (isinstance(word, bytes) and word.upper() == kind) or (
                    isinstance(third, bytes) and third.upper() == kind):
                yield tokens
