"""What one folder's copy did so far, shared by the header pass and the appender through
public methods: counts for the summary, failures for the report, and the rows that make a
re-run repeat nothing, committed to the state store as they happen.

Also the flags a target keeps: refused keywords are counted, never sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailferry.engine.fingerprint import message_id, subject
from mailferry.engine.results import FolderResult, MessageFailure
from mailferry.status import FailureKind
from mailferry.store import MappedMessage

if TYPE_CHECKING:
    from mailferry.store import StateStore

SYSTEM_FLAGS = {"\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft"}
_ATOM_SPECIALS = set('(){ %*"\\]') | {chr(c) for c in range(0x20)} | {chr(0x7F)}


def flags_key(flags: Iterable[str]) -> str:
    return " ".join(sorted({f for f in flags if f.lower() != "\\recent"}, key=str.lower))


def allowed_flags(flags: Iterable[str], permanent: Iterable[str]) -> tuple[list[str], list[str]]:
    """(flags the target keeps, keywords it would refuse). Refused keywords are counted, not
    sent: one refused keyword would fail the whole APPEND ($NotJunk, $Label1 on some servers).
    An empty PERMANENTFLAGS means the server did not say: then everything is tried."""
    permanent_lower = {f.lower() for f in permanent}
    any_keyword = not permanent_lower or "\\*" in permanent_lower
    allowed: list[str] = []
    dropped: list[str] = []
    for flag in flags:
        low = flag.lower()
        if low == "\\recent":
            continue
        if low in SYSTEM_FLAGS:
            allowed.append(flag)
        elif flag.startswith("\\") or any(c in _ATOM_SPECIALS for c in flag):
            dropped.append(flag)
        elif any_keyword or low in permanent_lower:
            allowed.append(flag)
        else:
            dropped.append(flag)
    return allowed, dropped


@dataclass
class FlagFilter:
    """The target folder's PERMANENTFLAGS; counts what it drops (once per message)."""

    permanent: frozenset[str]
    dropped: Counter[str] = field(default_factory=Counter)

    def keep(self, flags: Iterable[str]) -> list[str]:
        allowed, dropped = self.split(flags)
        self.count(dropped)
        return allowed

    def split(self, flags: Iterable[str]) -> tuple[list[str], list[str]]:
        """(flags kept, keywords dropped), not counted yet."""
        return allowed_flags(flags, self.permanent)

    def count(self, dropped: Iterable[str]) -> None:
        self.dropped.update(dropped)


class FolderLedger:
    """One folder's copy, as it goes. `record` and `fail` commit at once (except in a dry
    run, where nothing is written)."""

    def __init__(self, store: StateStore, folder_id: int, result: FolderResult, *,
                 dry_run: bool = False) -> None:
        self.store = store
        self.folder_id = folder_id
        self.result = result
        self.dry_run = dry_run
        self.failures: list[MessageFailure] = []
        self.target_messages = 0  # how many messages the target folder holds, as we go
        self.max_target_uid = 0

    def record(self, rows: Sequence[MappedMessage], claimed: Sequence[int] = ()) -> None:
        """Source messages settled (copied, present, skipped) and the pool messages claimed."""
        if not self.dry_run and (rows or claimed):
            self.store.record(self.folder_id, rows, claimed)

    def appended(self, target_uid: int | None, size: int) -> None:
        self.result.copied += 1
        self.result.bytes += size
        self.target_messages += 1
        self.max_target_uid = max(self.max_target_uid, target_uid or 0)

    def fail(self, uid: int, kind: FailureKind, reason: str, *, raw: bytes = b"",
             size: int | None = None, remember: bool = True) -> None:
        """A message that did not arrive (or not exactly): listed with the reason; `raw` (the
        message or its header) names it in the report."""
        self.failures.append(MessageFailure(
            self.result.source, uid, kind, reason, message_id(raw) if raw else None,
            subject(raw) if raw else None, len(raw) if size is None else size))
        if kind.missing:
            self.result.failed += 1
        if remember and not self.dry_run:
            self.store.record_failure(self.folder_id, uid, kind, reason, size=size)

    @property
    def complete(self) -> bool:
        """Every source message in the target (some perhaps not byte-identical)."""
        return not any(FailureKind(f.kind).missing for f in self.failures)
