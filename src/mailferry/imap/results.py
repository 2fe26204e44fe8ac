"""Typed results of commands, from their untagged responses and tagged status. Pure.

Each function takes what `ImapSession.command` returned (the untagged responses, the tagged
OK) and gives the value the engine works with; the session only chooses the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailferry.errors import ProtocolError
from mailferry.imap.protocol import Tagged
from mailferry.imap.wire import (
    ListEntry,
    Namespace,
    Response,
    iter_untagged,
    parse_list,
    parse_status,
    parse_uid_set,
    response_code,
)


@dataclass(frozen=True)
class AppendResult:
    uid: int | None  # APPENDUID, when the server has UIDPLUS
    error: str | None = None  # the server's words when it refused this message
    transient: bool = False  # "try again later"
    delay: float | None = None  # the wait the server suggested, if it did


@dataclass(frozen=True)
class Selected:
    uidvalidity: int
    uidnext: int | None
    exists: int
    permanent_flags: frozenset[str]
    highestmodseq: int | None


def capabilities_in(text: bytes) -> frozenset[str] | None:
    """`[CAPABILITY IMAP4rev1 ...]` in a greeting or tagged OK, if there is one."""
    code = response_code(text)
    if code and code[0] == "CAPABILITY":
        return frozenset(code[1].decode().upper().split())
    return None


def capabilities_from(untagged: Sequence[Response], tagged: Tagged) -> frozenset[str] | None:
    """The answer to CAPABILITY: the untagged `* CAPABILITY`, or the tagged OK's code."""
    found = None
    for response in untagged:
        if response.head.upper().startswith(b"* CAPABILITY"):
            found = frozenset(response.head.decode().upper().split()[2:])
    return capabilities_in(tagged.text) or found


def append_uids(tagged: Tagged, count: int) -> list[AppendResult]:
    """`OK [APPENDUID 38505 3955:3957]` -> one result per message appended."""
    code = tagged.code
    if code and code[0] == "APPENDUID":
        fields = code[1].split()
        if len(fields) == 2:
            uids = parse_uid_set(fields[1])
            if len(uids) == count:
                return [AppendResult(uid) for uid in uids]
    return [AppendResult(None) for _ in range(count)]


def selected_from(untagged: Sequence[Response], tagged: Tagged) -> Selected:
    uidvalidity = uidnext = highestmodseq = None
    exists = 0
    permanent: frozenset[str] = frozenset()
    for response in [*untagged, Response([b"* " + tagged.status + b" " + tagged.text])]:
        head = response.head
        code = response_code(head)
        if code:
            name, rest = code
            if name == "UIDVALIDITY":
                uidvalidity = _number(rest, name)
            elif name == "UIDNEXT":
                uidnext = _number(rest, name)
            elif name == "HIGHESTMODSEQ":
                highestmodseq = _number(rest, name)
            elif name == "PERMANENTFLAGS":
                permanent = frozenset(rest.decode().strip("()").split())
        words = head.split()
        if len(words) >= 3 and words[2].upper() == b"EXISTS":
            exists = _number(words[1], "EXISTS")
    if uidvalidity is None:
        raise ProtocolError("SELECT/EXAMINE without UIDVALIDITY")
    return Selected(uidvalidity, uidnext, exists, permanent, highestmodseq)


def _number(text: bytes, what: str) -> int:
    if not text.strip().isdigit():
        raise ProtocolError(f"{what} is not a number: {bytes(text)[:100]!r}")
    return int(text)


def esearch_uids(untagged: Sequence[Response]) -> list[int]:
    """`* ESEARCH (TAG "M3") UID ALL 1:90000,90002` -> the UIDs (none: no ALL)."""
    for response in untagged:
        words = response.head.split()
        if len(words) > 1 and words[1].upper() == b"ESEARCH":
            upper = [w.upper() for w in words]
            if b"ALL" in upper:
                return parse_uid_set(words[upper.index(b"ALL") + 1])
    return []


def search_uids(untagged: Sequence[Response]) -> list[int]:
    """`* SEARCH 3 5 9` (possibly several of them) -> [3, 5, 9]."""
    uids: list[int] = []
    for response in untagged:
        head = response.head
        if head.upper().startswith(b"* SEARCH"):
            uids.extend(int(x) for x in head.split()[2:] if x.isdigit())
    return uids


def list_entries(untagged: Sequence[Response], kind: bytes = b"LIST") -> list[ListEntry]:
    return [parse_list(tokens) for tokens in iter_untagged(untagged, kind)]


def subscribed_in(entries: Sequence[ListEntry]) -> set[bytes]:
    """Names LIST-EXTENDED's RETURN (SUBSCRIBED) marked."""
    return {e.name for e in entries if "\\subscribed" in {a.lower() for a in e.attributes}}


def existing(entries: Sequence[ListEntry]) -> list[ListEntry]:
    """Without the \\NonExistent parents LIST-EXTENDED reports for subscribed names."""
    return [e for e in entries
            if e.selectable or "\\nonexistent" not in {a.lower() for a in e.attributes}]


def personal_namespace(untagged: Sequence[Response] | None,
                       entries: Sequence[ListEntry]) -> Namespace:
    """The personal namespace from NAMESPACE's answer (None: not offered); else no prefix
    and the delimiter LIST showed."""
    for tokens in iter_untagged(untagged or [], b"NAMESPACE"):
        personal = tokens[2] if len(tokens) > 2 else None
        if isinstance(personal, list) and personal and isinstance(personal[0], list):
            prefix, separator = (personal[0] + [None, None])[:2]
            return Namespace(prefix if isinstance(prefix, bytes) else b"",
                             separator.decode() if isinstance(separator, bytes) else None)
    delimiter = next((e.delimiter for e in entries if e.delimiter), None)
    return Namespace(b"", delimiter)


def statuses_of(untagged: Sequence[Response], asked: Sequence[bytes],
                ) -> dict[bytes, dict[str, int]]:
    """The `* STATUS` answers among `untagged`, by the name asked for (a server may send
    them in any order when it runs pipelined commands at once; GNU imap4d leaves names with
    spaces unquoted, so a name matches when it reads the same word by word)."""
    by_words = {tuple(name.split()): name for name in asked}
    found: dict[bytes, dict[str, int]] = {}
    for tokens in iter_untagged(untagged, b"STATUS"):
        name, items = parse_status(tokens)
        key = name if name in asked else by_words.get(tuple(name.split()))
        if key is not None:
            found[key] = items
    return found


def status_items(untagged: Sequence[Response]) -> dict[str, int] | None:
    """`* STATUS INBOX (MESSAGES 3 UIDNEXT 4)` -> {"MESSAGES": 3, ...}; None if absent."""
    for tokens in iter_untagged(untagged, b"STATUS"):
        return parse_status(tokens)[1]
    return None
