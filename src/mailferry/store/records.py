"""The copy state's rows as the engine sees them: plain data, importable without SQLAlchemy
(a no-change re-run reads them through store/marks.py and never imports it)."""

from __future__ import annotations

from dataclasses import dataclass

from mailferry.status import FailureKind, MessageOutcome


@dataclass(frozen=True)
class FolderState:
    id: int
    source_name: bytes
    target_name: bytes
    src_uidvalidity: int | None
    src_uidnext: int
    src_highestmodseq: int | None
    tgt_uidvalidity: int | None
    complete: bool
    tgt_uidnext: int | None = None
    tgt_messages: int | None = None


@dataclass(frozen=True)
class TargetTraits:
    """What read-backs learned of a target folder (engine/readback.py): a sample of ordinary
    messages came back exactly as sent; a raw 8-bit header did (Cyrus replaces them)."""

    keeps_ordinary: bool = False
    keeps_eight_bit: bool = False


NOTHING_LEARNED = TargetTraits()

@dataclass(frozen=True)
class MappedMessage:
    src_uid: int
    tgt_uid: int | None
    fingerprint: str
    flags: str
    outcome: MessageOutcome
    relayed: str | None = None  # fingerprint below the delivery fields, if it has some


@dataclass(frozen=True)
class ForeignMessage:
    """A target message no source message has claimed (yet)."""

    fingerprint: str
    relayed: str | None  # fingerprint below the delivery fields a receiving server adds
    flags: str


@dataclass(frozen=True)
class FailureRecord:
    kind: FailureKind
    reason: str
    size: int | None
