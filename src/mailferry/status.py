"""Statuses and kinds shared by the engine, batch runs, the state store and the reports.

Each is a StrEnum: a member *is* its word, so JSON, the database and the HTML report keep
the words they always had ("synced", "failed", ...), and nobody spells them by hand.
"""

from __future__ import annotations

from enum import StrEnum


class FolderStatus(StrEnum):
    """How one folder of one copy ended."""

    PENDING = "pending"  # not finished (never in a summary)
    SYNCED = "synced"
    UNCHANGED = "unchanged"  # STATUS showed nothing new: not even selected
    FAILED = "failed"
    EXCLUDED = "excluded"  # by a filter
    PLANNED = "planned"  # --dry-run
    PAUSED = "paused"  # a stop or a closing window came first


class MailboxStatus(StrEnum):
    """Where a project mailbox stands."""

    PENDING = "pending"
    COPYING = "copying"
    SYNCED = "synced"
    PAUSED = "paused"
    FAILED = "failed"
    VERIFIED = "verified"


class FailureKind(StrEnum):
    """What went wrong with one message."""

    REJECTED = "rejected"  # not in the target: the server refused it (its words say why)
    TOO_LARGE = "too-large"  # not in the target: over APPENDLIMIT or the size cap, not read
    # not in the target: the source could not give it as recorded (a backup file missing,
    # damaged, or not the bytes its manifest record names)
    UNREADABLE = "unreadable"
    ALTERED = "altered"  # stored, but not byte-identical
    NORMALISED = "normalised"  # stored with its text unchanged but its line endings (a warning)
    DATE_CHANGED = "date-changed"  # stored with another INTERNALDATE than the source's

    @property
    def missing(self) -> bool:
        """The message is not in the target: its folder is not complete."""
        return self in (FailureKind.REJECTED, FailureKind.TOO_LARGE, FailureKind.UNREADABLE)


class MessageOutcome(StrEnum):
    """What the state remembers about a source message."""

    COPIED = "copied"
    PRESENT = "present"  # already in the target (found by fingerprint)
    DUPLICATE = "duplicate"  # --skip-duplicates
    ELSEWHERE = "elsewhere"  # an \\All folder's message another folder brought


class VerifyStatus(StrEnum):
    """A project mailbox's last verification."""

    VERIFIED = "verified"
    DIFFERS = "differs"
    ERROR = "error"
