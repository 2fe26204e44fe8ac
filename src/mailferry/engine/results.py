"""What a copy did, as data: the CLI prints it, `--json` dumps it, tests assert on it."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from mailferry.status import FailureKind, FolderStatus


@dataclass(frozen=True)
class MessageFailure:
    folder: str
    uid: int
    kind: FailureKind
    reason: str  # the server's words
    message_id: str | None = None
    subject: str | None = None
    size: int | None = None


@dataclass
class FolderResult:
    source: str
    target: str
    status: FolderStatus = FolderStatus.PENDING
    copied: int = 0
    present: int = 0  # already in the target (found by fingerprint), not copied again
    present_rewritten: int = 0  # of those: found through a rewrite the target server made
    duplicates_skipped: int = 0  # --skip-duplicates
    in_other_folders: int = 0  # \All folder: already copied from a label folder
    # our copies removed because the relay delivered the same message to the target later
    relayed_twins: int = 0
    failed: int = 0
    flags_updated: int = 0
    bytes: int = 0
    to_copy: int = 0  # --dry-run
    excluded: int = 0  # left out by age or size (--max-age, --min-age, --max-size)
    seconds: float = 0.0
    keywords_dropped: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    note: str = ""


@dataclass(frozen=True)
class MirrorAction:
    """One target message a mirror pass moved or removed, named for the report."""

    action: str  # "moved" or "removed"
    folder: str  # the target folder it was in
    message_id: str | None
    date: str | None  # its Date header (INTERNALDATE when it has none)
    to: str | None = None  # the target folder it went to ("moved")


@dataclass
class MirrorReport:
    """What the mirror pass of one mailbox did (or, in a dry run, would do)."""

    enabled: bool = False
    note: str = ""  # why it did not run (cutover passed, UIDVALIDITY changed, ...)
    actions: list[MirrorAction] = field(default_factory=list)
    repaired: int = 0  # renumbered on the source, paired again where they are
    stopped: str | None = None  # the cap was exceeded: nothing was moved or removed
    error: str | None = None

    def count(self, action: str) -> int:
        return sum(1 for a in self.actions if a.action == action)

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "note": self.note, "moved": self.count("moved"),
                "removed": self.count("removed"), "repaired": self.repaired,
                "stopped": self.stopped, "error": self.error,
                "actions": [asdict(a) for a in self.actions]}


@dataclass
class CopySummary:
    source: str
    target: str
    dry_run: bool = False
    folders: list[FolderResult] = field(default_factory=list)
    failures: list[MessageFailure] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False  # stopped early (signal): some folders are "paused"
    mirror: MirrorReport = field(default_factory=MirrorReport)
    notes: list[str] = field(default_factory=list)  # how the run went where it was unusual

    def total(self, attribute: str) -> int:
        return sum(int(getattr(f, attribute)) for f in self.folders)

    @property
    def keywords_dropped(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for folder in self.folders:
            total.update(folder.keywords_dropped)
        return total

    @property
    def ok(self) -> bool:
        return (all(f.kind == FailureKind.NORMALISED for f in self.failures)
                and not self.interrupted
                and self.mirror.stopped is None and self.mirror.error is None
                and not any(f.status == FolderStatus.FAILED for f in self.folders))

    @property
    def exit_status(self) -> int:
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        copied = self.total("copied")
        return {
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "totals": {
                "folders": len([f for f in self.folders if f.status != FolderStatus.EXCLUDED]),
                "copied": copied,
                "present": self.total("present"),
                "present_rewritten": self.total("present_rewritten"),
                "duplicates_skipped": self.total("duplicates_skipped"),
                "in_other_folders": self.total("in_other_folders"),
                "relayed_twins": self.total("relayed_twins"),
                "failed": self.total("failed"),
                "flags_updated": self.total("flags_updated"),
                "bytes": self.total("bytes"),
                "to_copy": self.total("to_copy"),
                "excluded_by_age_or_size": self.total("excluded"),
                "messages_per_second": round(copied / self.seconds, 1) if self.seconds else None,
                "keywords_dropped": dict(self.keywords_dropped),
            },
            "created": self.created,
            "mirror": self.mirror.to_json(),
            "notes": self.notes,
            "folders": [{**asdict(f), "keywords_dropped": dict(f.keywords_dropped)}
                        for f in self.folders],
            "failures": [asdict(f) for f in self.failures],
        }


class Reporter(Protocol):
    """Progress events; the CLI draws bars from them, tests collect them."""

    def planned(self, folders: int, messages: int, size: int) -> None: ...

    def progress(self, folder: str, messages: int, size: int) -> None: ...

    def folder_finished(self, result: FolderResult) -> None: ...


class SilentReporter:
    def planned(self, folders: int, messages: int, size: int) -> None:
        pass

    def progress(self, folder: str, messages: int, size: int) -> None:
        pass

    def folder_finished(self, result: FolderResult) -> None:
        pass
