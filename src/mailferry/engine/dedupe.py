"""Duplicates in one mailbox (`mailferry dedupe`), defined conservatively: two messages are
duplicates only when they sit in the same folder, have the engine's fingerprint (the
normalised header block, as the copy matches) AND the very same bytes (sha256 of BODY[]).
Of each such set the oldest (lowest UID) is kept, with the union of the set's flags (except
\\Deleted); the others are removed by UID (UID EXPUNGE: never a message it did not name).

Reading takes headers first and bodies only of the messages whose fingerprints collide, so
a folder without duplicates costs one header fetch.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mailferry.engine.fingerprint import fingerprint, message_id, subject
from mailferry.engine.folders import Folder, folders_from_listing
from mailferry.engine.source import uid_chunks
from mailferry.imap import ImapSession

_NOT_UNITED = {"\\recent", "\\deleted"}  # never carried over to the message kept


@dataclass(frozen=True)
class DuplicateSet:
    keep: int  # the oldest UID
    remove: tuple[int, ...]
    flags: tuple[str, ...]  # the union the kept message gets
    sha256: str  # of the whole message: what a backup must hold for each removed UID
    message_id: str | None
    subject: str | None

    def to_json(self) -> dict[str, Any]:
        return {"keep": self.keep, "remove": list(self.remove), "flags": list(self.flags),
                "message_id": self.message_id, "subject": self.subject}


@dataclass
class FolderDuplicates:
    folder: Folder
    uidvalidity: int
    messages: int
    sets: list[DuplicateSet] = field(default_factory=list)
    removed: int = 0  # after a real run
    note: str = ""  # why nothing was removed here, when so

    @property
    def to_remove(self) -> int:
        return sum(len(s.remove) for s in self.sets)

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder.display, "uidvalidity": self.uidvalidity,
                "messages": self.messages, "duplicates": self.to_remove,
                "removed": self.removed, "note": self.note,
                "sets": [s.to_json() for s in self.sets]}


def find_duplicates(session: ImapSession) -> list[FolderDuplicates]:
    """Every selectable folder of the mailbox, read-only (EXAMINE, BODY.PEEK)."""
    entries, subscribed, namespace = session.list_folders()
    found = []
    for folder in sorted(folders_from_listing(entries, subscribed, namespace),
                         key=lambda f: f.path):
        if folder.selectable:
            selected = session.select(folder.wire, readonly=True)
            found.append(FolderDuplicates(folder, selected.uidvalidity, selected.exists,
                                          _sets(session) if selected.exists > 1 else []))
            session.unselect(folder.wire)
    return found


def _sets(session: ImapSession) -> list[DuplicateSet]:
    by_print: dict[str, list[int]] = defaultdict(list)
    flags: dict[int, tuple[str, ...]] = {}
    for item in session.uid_fetch(b"1:*", b"(UID FLAGS BODY.PEEK[HEADER])"):
        if item.uid is not None and item.header is not None:
            by_print[fingerprint(item.header)].append(item.uid)
            flags[item.uid] = item.flags or ()
    colliding = sorted(uid for uids in by_print.values() if len(uids) > 1 for uid in uids)
    by_bytes: dict[str, list[int]] = defaultdict(list)
    heads: dict[str, bytes] = {}
    for chunk in uid_chunks(colliding):
        for item in session.uid_fetch(chunk, b"(UID BODY.PEEK[])"):
            if item.uid is not None and item.body is not None:
                digest = hashlib.sha256(item.body).hexdigest()
                by_bytes[digest].append(item.uid)
                heads.setdefault(digest, item.body)
    sets = []
    for digest, uids in sorted(by_bytes.items(), key=lambda kv: min(kv[1])):
        if len(uids) < 2:
            continue
        keep, *rest = sorted(uids)
        united = sorted({f for uid in uids for f in flags.get(uid, ())
                         if f.lower() not in _NOT_UNITED})
        sets.append(DuplicateSet(keep, tuple(rest), tuple(united), digest,
                                 message_id(heads[digest]), subject(heads[digest])))
    return sets


def remove_duplicates(session: ImapSession, found: FolderDuplicates) -> None:
    """Give each kept message the set's flags, then expunge the others by UID. Refused
    (noted, nothing changed) where the server lacks UIDPLUS, or when the folder's
    UIDVALIDITY changed since it was read: the UIDs would then name other messages."""
    if not found.sets:
        return
    if "UIDPLUS" not in session.capabilities:
        found.note = "not removed: the server lacks UIDPLUS (UID EXPUNGE)"
        return
    selected = session.select(found.folder.wire, readonly=False)
    if selected.uidvalidity != found.uidvalidity:
        found.note = "not removed: the folder's UIDVALIDITY changed since it was read"
        return
    for duplicate in found.sets:
        session.uid_store_flags(str(duplicate.keep).encode(), duplicate.flags)
        # the kept copy must still be there before its twins go (a client may have
        # deleted it meanwhile): then nothing of this set is removed
        if not list(session.uid_fetch(str(duplicate.keep).encode(), b"(UID)")):
            found.note = "some sets kept whole: their oldest copy disappeared meanwhile"
            continue
        session.uid_expunge(_uids(duplicate.remove))
        found.removed += len(duplicate.remove)
    session.unselect(found.folder.wire)


def _uids(uids: Sequence[int]) -> bytes:
    return ",".join(str(uid) for uid in uids).encode()
