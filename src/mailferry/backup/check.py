"""`mailferry backup --verify`: re-read every file and compare it with the manifest."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailferry.backup.codec import CorruptFile
from mailferry.backup.layout import parse_file_name
from mailferry.backup.manifest import Manifest, ManifestDamaged
from mailferry.backup.store import MailboxBackup


@dataclass(frozen=True)
class Problem:
    file: str
    kind: str  # missing | unreadable | corrupt | manifest | stray
    detail: str


@dataclass
class BackupCheck:
    directory: str
    messages: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        # a stray file (left by a killed run, not in the manifest) is reported, harmless
        return all(p.kind == "stray" for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "ok": self.ok, "messages": self.messages,
                "bytes": self.bytes, "problems": [vars(p) for p in self.problems]}


def check_backup(directory: Path, key: bytes | None) -> BackupCheck:
    result = BackupCheck(str(directory))
    try:
        Manifest.load(directory)
    except ManifestDamaged as exc:
        result.problems.append(Problem("manifest.jsonl", "manifest", str(exc)))
        return result
    backup = MailboxBackup.open(directory, key)
    if backup.manifest.tail:
        result.problems.append(Problem("manifest.jsonl", "stray", f"{backup.manifest.tail} bytes"
                                       " after the committed end (an interrupted run)"))
    named = set()
    for message in backup.manifest.all_messages():
        named.add(message.file)
        result.messages += 1
        try:
            raw = backup.read(message)
        except FileNotFoundError:
            result.problems.append(Problem(message.file, "missing", "file not found"))
            continue
        except OSError as exc:
            result.problems.append(Problem(message.file, "unreadable", str(exc)))
            continue
        except CorruptFile as exc:
            result.problems.append(Problem(message.file, "corrupt", str(exc)))
            continue
        digest = hashlib.sha256(raw).hexdigest()
        if digest != message.sha256 or len(raw) != message.size:
            result.problems.append(Problem(
                message.file, "corrupt", f"sha256 {digest[:16]}… size {len(raw)}, manifest says"
                f" {message.sha256[:16]}… size {message.size}"))
        result.bytes += len(raw)
    for path in _message_files(directory):
        relative = str(path.relative_to(directory))
        if relative not in named:
            result.problems.append(Problem(relative, "stray", "not in the manifest"))
    return result


def _message_files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, _dirs, files in os.walk(directory):
        if Path(root).name == "cur":
            found.extend(Path(root) / f for f in files if parse_file_name(f))
    return sorted(found)
