"""One folder's messages as small records: never a body kept, so memory is bounded by the
number of messages, not their size (`--deep` hashes each BODY[] as it streams past)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mailferry.engine.fingerprint import fingerprint, message_id
from mailferry.engine.source import MessageSource

SHALLOW = b"(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"
DEEP = b"(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"


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


@dataclass
class Inventory:
    entries: list[Entry]
    permanent_flags: frozenset[str]
    bytes_hashed: int = 0


def take_inventory(session: MessageSource, mailbox: bytes, *, deep: bool) -> Inventory:
    selected = session.select(mailbox, readonly=True)
    entries: list[Entry] = []
    hashed = 0
    # the session streams one message at a time: memory stays bounded whatever the folder
    fetched = session.uid_fetch(b"1:*", DEEP if deep else SHALLOW) if selected.exists else ()
    for item in fetched:
        assert item.uid is not None
        raw = (item.body if deep else item.header) or b""
        flags = frozenset(f for f in item.flags or () if f.lower() != "\\recent")
        entry = Entry(item.uid, fingerprint(raw), message_id(raw),
                      item.size if item.size is not None else len(raw), flags,
                      item.internaldate or "")
        if deep:
            entry.sha256 = hashlib.sha256(raw).hexdigest()
            entry.has_nul = b"\x00" in raw
            hashed += len(raw)
        entries.append(entry)
    return Inventory(entries, selected.permanent_flags, hashed)
