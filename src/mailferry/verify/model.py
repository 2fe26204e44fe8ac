"""What a verification found, as data: the CLI prints it, `--json` dumps it, report renders it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Difference:
    folder: str  # source folder (display name)
    kind: str  # missing | extra | different | folder-missing; notes: delivered-twice
    source_uid: int | None
    target_uid: int | None
    message_id: str | None
    detail: str  # what differs, in words


@dataclass
class FolderCheck:
    source: str
    target: str
    source_messages: int = 0
    target_messages: int = 0
    source_bytes: int = 0
    target_bytes: int = 0
    differences: int = 0
    delivered_twice: int = 0  # relayed to both servers: one message, noted
    excluded: int = 0  # source messages left out by age or size, as the copy leaves them
    filed_elsewhere: int = 0  # \\All folder, all_mail="unfiled": held by another folder
    note: str = ""

    @property
    def status(self) -> str:
        return "ok" if not self.differences else "differs"


@dataclass(frozen=True)
class ExcludedFolder:
    folder: str
    reason: str


@dataclass
class VerifyReport:
    source: str
    target: str
    deep: bool
    folders: list[FolderCheck] = field(default_factory=list)
    excluded: list[ExcludedFolder] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    notes: list[Difference] = field(default_factory=list)  # not differences: delivered-twice
    seconds: float = 0.0
    bytes_hashed: int = 0  # --deep: source and target BODY[] bytes hashed

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def exit_status(self) -> int:
        return 0 if self.ok else 1

    def count(self, kind: str) -> int:
        return sum(1 for d in self.differences if d.kind == kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "target": self.target, "deep": self.deep, "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "totals": {
                "folders": len(self.folders),
                "source_messages": sum(f.source_messages for f in self.folders),
                "excluded_by_age_or_size": sum(f.excluded for f in self.folders),
                "target_messages": sum(f.target_messages for f in self.folders),
                "source_bytes": sum(f.source_bytes for f in self.folders),
                "target_bytes": sum(f.target_bytes for f in self.folders),
                **{kind: self.count(kind)
                   for kind in ("missing", "extra", "different", "folder-missing")},
                "delivered_twice": len(self.notes),
                "filed_elsewhere": sum(f.filed_elsewhere for f in self.folders),
            },
            "folders": [{**asdict(f), "status": f.status} for f in self.folders],
            "excluded": [asdict(e) for e in self.excluded],
            "differences": [asdict(d) for d in self.differences],
            "notes": [asdict(d) for d in self.notes],
        }
