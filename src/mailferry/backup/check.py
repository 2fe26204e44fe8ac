"""`mailferry backup --verify`: re-read every file and compare it with the manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailferry.backup.layout import parse_file_name
from mailferry.backup.local import UnreadableMessage
from mailferry.backup.manifest import ManifestDamaged
from mailferry.backup.store import MailboxBackup


@dataclass(frozen=True)
class Problem:
    file: str
    kind: str  # missing | unreadable | corrupt | outside | manifest | stray
    detail: str


@dataclass
class BackupCheck:
    directory: str
    messages: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    authenticated_now: bool = False  # an older encrypted backup's manifest, now vouched for

    @property
    def ok(self) -> bool:
        # a stray file (left by a killed run, not in the manifest) is reported, harmless
        return all(p.kind == "stray" for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "ok": self.ok, "messages": self.messages,
                "bytes": self.bytes, "problems": [vars(p) for p in self.problems],
                "authenticated_now": self.authenticated_now}


def check_backup(directory: Path, key: bytes | None) -> BackupCheck:
    """Re-read every file against its record. An encrypted backup from before manifests were
    authenticated is checked against its checksum and, if every file is intact, authenticated
    (`authenticated_now`): from then on an edit of its manifest shows."""
    result = BackupCheck(str(directory))
    try:
        backup = MailboxBackup.open(directory, key, trust_unauthenticated=True)
    except ManifestDamaged as exc:
        result.problems.append(Problem("manifest.jsonl", "manifest", str(exc)))
        return result
    if backup.manifest.tail:
        result.problems.append(Problem("manifest.jsonl", "stray", f"{backup.manifest.tail} bytes"
                                       " after the committed end (an interrupted run)"))
    named = set()
    for message in backup.manifest.all_messages():
        named.add(message.file)
        result.messages += 1
        try:
            raw = backup.read(message)
        except UnreadableMessage as exc:
            result.problems.append(Problem(message.file, exc.kind, str(exc)))
            continue
        result.bytes += len(raw)
    for path in _message_files(directory):
        relative = str(path.relative_to(directory))
        if relative not in named:
            result.problems.append(Problem(relative, "stray", "not in the manifest"))
    if not backup.authenticated and result.ok:
        backup.authenticate()
        result.authenticated_now = True
    return result


def _message_files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, _dirs, files in os.walk(directory):
        if Path(root).name == "cur":
            found.extend(Path(root) / f for f in files if parse_file_name(f))
    return sorted(found)
