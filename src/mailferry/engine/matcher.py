"""Which source messages the target already holds: source messages against the target's
unclaimed messages ("the pool") as multisets, so k source messages with one fingerprint
and j in the pool mean exactly k-j copies.

Pure (no I/O): the header pass and the appender both ask it, and tests drive it with tables.

A source message is matched in three rounds, each over the whole batch in UID order:
1. exactly: a pool message with the same fingerprint (the whole header block);
2. through a rewrite: a pool message with the same *robust* fingerprint (what survives the
   rewrites servers do on the way in: re-folded headers, 8-bit bytes replaced, bookkeeping
   fields injected; see fingerprint.robust_fingerprint), so a re-run against a server that
   rewrote our copies does not copy them again (issue 20 point 5);
3. otherwise, in this order: a message another folder already brought (an \\All folder's
   copy of a labelled message), a duplicate the user asked to skip, a *relayed* twin, or
   copy it. A relayed twin has the same header block below the delivery fields each
   receiving server prepends (dual delivery: the old and the new server each stored the
   relayed message with its own Return-Path/Received/...). Such a pairing is only
   proposed: the caller confirms it by comparing both bodies and `refute`s it otherwise,
   so two different messages never pair.
Exact matches go first across the batch, so a relayed pairing never takes a pool message
another source message is byte-for-byte identical to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from mailferry.engine.fingerprint import (
    block_fingerprint,
    header_block,
    relayed_fingerprint,
    robust_fingerprints,
)


class MessageKey:
    """How the matcher knows a message: its fingerprint, and (computed when first needed)
    its fingerprint below the delivery fields."""

    __slots__ = ("_block", "_relayed", "exact", "robust", "robust_cut")

    def __init__(self, exact: str, *, block: bytes | None = None,
                 relayed: str | None = None, robust: str | None = None,
                 robust_cut: str | None = None) -> None:
        self.exact = exact
        self.robust = robust  # None: known from the state store, which keeps exact only
        self.robust_cut = robust_cut  # fingerprint.robust_fingerprints' second
        self._block = block
        self._relayed = relayed

    @classmethod
    def of(cls, raw: bytes) -> MessageKey:
        """From a whole message or its header block."""
        block = header_block(raw)
        robust, cut = robust_fingerprints(raw)
        return cls(block_fingerprint(block), block=block, robust=robust, robust_cut=cut)

    @property
    def relayed(self) -> str | None:
        if self._block is not None:
            self._relayed = relayed_fingerprint(self._block)
            self._block = None
        return self._relayed

    def __repr__(self) -> str:
        return f"MessageKey({self.exact!r})"


class Decision(StrEnum):
    COPY = "copy"
    PRESENT = "present"  # claims a pool message
    ELSEWHERE = "elsewhere"  # \All folder: another copied folder holds it
    DUPLICATE = "duplicate"  # --skip-duplicates


@dataclass(frozen=True)
class Match:
    decision: Decision
    target_uid: int | None = None  # the pool message claimed (PRESENT)
    relayed: bool = False  # claimed below the delivery fields: confirm the bodies
    rewritten: bool = False  # claimed through a rewrite the target server made


@dataclass
class _Entry:
    uid: int
    key: MessageKey
    flags: str
    claimed: bool = False


@dataclass
class Matcher:
    """The pool of one target folder and the rules of one copy."""

    skip_duplicates: bool = False
    elsewhere: frozenset[str] = frozenset()  # fingerprints another folder brought
    _by_exact: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    _by_relayed: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    _by_robust: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    _entries: dict[int, _Entry] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)  # fingerprints the target folder holds

    def add_target(self, uid: int, key: MessageKey, flags: str) -> None:
        """A target message no source message has claimed yet."""
        entry = _Entry(uid, key, flags)
        self._entries[uid] = entry
        self._by_exact[key.exact].append(entry)
        self._seen.add(key.exact)
        self._index(entry)

    def _index(self, entry: _Entry) -> None:
        relayed = entry.key.relayed
        if relayed is not None:
            self._by_relayed[relayed].append(entry)
        if entry.key.robust is not None:
            self._by_robust[entry.key.robust].append(entry)

    def add_known(self, fingerprints: Iterable[str]) -> None:
        """Fingerprints of messages already copied into the folder (for skip_duplicates)."""
        self._seen.update(fingerprints)

    def __len__(self) -> int:
        return sum(1 for e in self._entries.values() if not e.claimed)

    def flags_of(self, target_uid: int) -> str:
        return self._entries[target_uid].flags

    def match(self, keys: Sequence[MessageKey]) -> list[Match]:
        """Decide for each source message, in order."""
        results: list[Match | None] = [None] * len(keys)
        for index, key in enumerate(keys):
            entry = _take(self._by_exact.get(key.exact))
            if entry is not None:
                results[index] = Match(Decision.PRESENT, entry.uid)
        for index, key in enumerate(keys):
            if results[index] is None:
                entry = self._take_rewritten(key)
                if entry is not None:
                    results[index] = Match(Decision.PRESENT, entry.uid, rewritten=True)
        for index, key in enumerate(keys):
            if results[index] is None:
                results[index] = self._second_round(key)
        return [r for r in results if r is not None]

    def rewritten_copy(self, key: MessageKey) -> Match:
        """A pool message this one's robust fingerprint finds, claimed; else COPY."""
        entry = self._take_rewritten(key)
        return Match(Decision.PRESENT, entry.uid, rewritten=True) if entry else Match(Decision.COPY)

    def _take_rewritten(self, key: MessageKey) -> _Entry | None:
        """The pool message with this robust fingerprint, else with its cut one (the target
        ended the header at a field name with 8-bit bytes: pymap), claimed."""
        for robust in (key.robust, key.robust_cut):
            entry = _take(self._by_robust.get(robust)) if robust is not None else None
            if entry is not None:
                return entry
        return None

    def _second_round(self, key: MessageKey) -> Match:
        if key.exact in self.elsewhere:
            return Match(Decision.ELSEWHERE)
        if self.skip_duplicates and key.exact in self._seen:
            return Match(Decision.DUPLICATE)
        self._seen.add(key.exact)
        if self._by_relayed:
            relayed = key.relayed
            entry = _take(self._by_relayed.get(relayed)) if relayed else None
            if entry is not None:
                return Match(Decision.PRESENT, entry.uid, relayed=True)
        return Match(Decision.COPY)

    def refute(self, match: Match) -> Match:
        """A relayed pairing whose bodies differ: the pool message goes back, the source
        message is copied."""
        if match.target_uid is not None:
            entry = self._entries[match.target_uid]
            entry.claimed = False
            self._by_exact[entry.key.exact].append(entry)
            self._index(entry)
        return Match(Decision.COPY)


def _take(entries: list[_Entry] | None) -> _Entry | None:
    """The first unclaimed entry of a list (lowest target UID first), claimed."""
    while entries:
        entry = entries.pop(0)
        if not entry.claimed:
            entry.claimed = True
            return entry
    return None
