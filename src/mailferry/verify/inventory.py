"""One folder's messages as small records: never a body kept, so memory is bounded by the
number of messages, not their size (`--deep` hashes each BODY[] as it streams past)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mailferry.engine import MessageKey, MessageSource, body_digest, message_id

DEEP_LIMIT = 256 << 20  # --deep: larger bodies are compared by their headers only


@dataclass(slots=True)
class Entry:
    uid: int
    fingerprint: str
    message_id: str | None
    size: int
    flags: frozenset[str]
    internaldate: str
    sha256: str | None = None  # --deep
    has_nul: bool = False  # --deep: NUL bytes, which some servers rewrite
    relayed: str | None = None  # fingerprint below the delivery fields, when it has some
    body_size: int | None = None  # bytes below the header block (RFC822.SIZE minus header)
    body_sha256: str | None = None  # --deep: `body_digest`


@dataclass
class Inventory:
    entries: list[Entry]
    permanent_flags: frozenset[str]
    bytes_hashed: int = 0


def _entry(uid: int, raw: bytes, size: int | None, flags: tuple[str, ...],
           internaldate: str | None) -> Entry:
    key = MessageKey.of(raw)
    return Entry(uid, key.exact, message_id(raw), size if size is not None else len(raw),
                 frozenset(f for f in flags if f.lower() != "\\recent"), internaldate or "",
                 relayed=key.relayed)


def take_inventory(session: MessageSource, mailbox: bytes, *, deep: bool) -> Inventory:
    selected = session.examine(mailbox)
    entries: list[Entry] = []
    hashed = 0
    # the source streams one message at a time: memory stays bounded whatever the folder
    uids = session.uids() if selected.exists else []
    if not deep:
        for header in session.headers(uids):
            entry = _entry(header.uid, header.header, header.size, header.flags,
                           header.internaldate)
            if header.size is not None:
                entry.body_size = header.size - len(header.header)
            entries.append(entry)
        return Inventory(entries, selected.permanent_flags)
    too_large: list[int] = []
    for message in session.messages(uids, max_size=DEEP_LIMIT):
        if message.body is None:
            too_large.append(message.uid)
            continue
        raw = message.body
        entry = _entry(message.uid, raw, None, message.flags, message.internaldate)
        entry.sha256 = hashlib.sha256(raw).hexdigest()
        entry.body_sha256 = body_digest(raw)
        entry.has_nul = b"\x00" in raw
        hashed += len(raw)
        entries.append(entry)
    for header in session.headers(too_large) if too_large else ():
        entries.append(_entry(header.uid, header.header, header.size, header.flags,
                              header.internaldate))
    entries.sort(key=lambda e: e.uid)
    return Inventory(entries, selected.permanent_flags, hashed)
