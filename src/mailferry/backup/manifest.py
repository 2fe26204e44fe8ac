"""The manifest: an append-only JSON-lines journal, committed by its checksum file.

A batch of records is appended and fsynced, then `manifest.jsonl.sha256` (`sha256sum`
format) is replaced atomically with the hash of the whole manifest. Only the prefix whose
hash that file names is committed: a run killed between the two steps leaves a tail that
the next run cuts off (its message files are fetched again). A manifest no line boundary of
which matches the checksum has been damaged and is reported, never rewritten.

Records: {"type": "folder", ...} after each folder's messages (the last one wins),
{"type": "message", ...} per message, {"type": "flags", ...} when flags changed later.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mailferry.backup.layout import CHECKSUM, MANIFEST, write_atomically


class ManifestDamaged(Exception):
    pass


@dataclass(slots=True)
class MessageRecord:
    folder: tuple[str, ...]
    uidvalidity: int
    uid: int
    size: int
    sha256: str
    flags: list[str]
    internaldate: str
    file: str  # relative to the mailbox directory

    def to_json(self) -> dict[str, Any]:
        return {"type": "message", "folder": list(self.folder), "uidvalidity": self.uidvalidity,
                "uid": self.uid, "size": self.size, "sha256": self.sha256, "flags": self.flags,
                "internaldate": self.internaldate, "file": self.file}


@dataclass
class FolderRecord:
    path: tuple[str, ...]
    uidvalidity: int = 0
    uidnext: int = 1
    highestmodseq: int | None = None
    special_use: str | None = None
    subscribed: bool = True
    # messages of the current UIDVALIDITY by UID; older generations stay on disk and in
    # the manifest (checked by --verify) but are not restored
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    older: list[MessageRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"type": "folder", "folder": list(self.path), "uidvalidity": self.uidvalidity,
                "uidnext": self.uidnext, "highestmodseq": self.highestmodseq,
                "special_use": self.special_use, "subscribed": self.subscribed}

    @property
    def max_uid(self) -> int:
        return max(self.messages, default=0)


@dataclass
class Manifest:
    directory: Path
    folders: dict[tuple[str, ...], FolderRecord] = field(default_factory=dict)
    committed: int = 0  # bytes of manifest.jsonl that the checksum covers
    tail: int = 0  # bytes after that (an interrupted append)
    _hasher: Any = field(default_factory=hashlib.sha256)
    _handle: BinaryIO | None = None

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        manifest = cls(directory)
        path, checksum = directory / MANIFEST, directory / CHECKSUM
        data = path.read_bytes() if path.exists() else b""
        try:
            wanted = checksum.read_text(encoding="ascii").split()[0]
        except (OSError, IndexError, UnicodeDecodeError):
            raise ManifestDamaged(f"{checksum}: missing or unreadable") from None
        hasher = hashlib.sha256()
        end = -1 if hasher.hexdigest() != wanted else 0
        pos = 0
        while end < 0 and pos < len(data):
            newline = data.find(b"\n", pos)
            if newline < 0:
                break
            hasher.update(data[pos:newline + 1])
            pos = newline + 1
            if hasher.hexdigest() == wanted:
                end = pos
        if end < 0:
            raise ManifestDamaged(f"{path}: does not match {CHECKSUM} (edited or damaged)")
        manifest.committed, manifest.tail = end, len(data) - end
        manifest._hasher = hashlib.sha256(data[:end])
        for number, line in enumerate(data[:end].splitlines(), 1):
            try:
                manifest._apply(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ManifestDamaged(f"{path}:{number}: bad record: {exc}") from None
        return manifest

    @staticmethod
    def create(directory: Path) -> None:
        (directory / MANIFEST).touch()
        write_atomically(directory / CHECKSUM,
                         f"{hashlib.sha256().hexdigest()}  {MANIFEST}\n".encode())

    def _apply(self, record: dict[str, Any]) -> None:
        path = tuple(record["folder"])
        folder = self.folders.setdefault(path, FolderRecord(path))
        kind = record["type"]
        if kind == "folder":
            if record["uidvalidity"] != folder.uidvalidity:
                folder.older.extend(folder.messages.values())
                folder.messages = {}
            folder.uidvalidity = record["uidvalidity"]
            folder.uidnext = record["uidnext"]
            folder.highestmodseq = record["highestmodseq"]
            folder.special_use = record["special_use"]
            folder.subscribed = record["subscribed"]
        elif kind == "message":
            message = MessageRecord(path, record["uidvalidity"], record["uid"], record["size"],
                                    record["sha256"], list(record["flags"]),
                                    record["internaldate"], record["file"])
            if folder.messages and message.uidvalidity != folder.uidvalidity:
                folder.older.extend(folder.messages.values())
                folder.messages = {}
            folder.uidvalidity = message.uidvalidity
            folder.messages[message.uid] = message
        elif kind == "flags":
            message = folder.messages[record["uid"]]
            message.flags, message.file = list(record["flags"]), record["file"]

    def all_messages(self) -> list[MessageRecord]:
        return [m for f in self.folders.values() for m in [*f.older, *f.messages.values()]]

    # -- writing -------------------------------------------------------------------------

    def open_for_append(self) -> None:
        """Cut an uncommitted tail off and get ready to append."""
        handle = open(self.directory / MANIFEST, "r+b")  # noqa: SIM115 - closed in close()
        handle.truncate(self.committed)
        handle.seek(self.committed)
        self.tail = 0
        self._handle = handle

    def commit(self, records: list[dict[str, Any]]) -> None:
        """Append, fsync, then commit by replacing the checksum file atomically."""
        if not records:
            return
        assert self._handle is not None, "open_for_append first"
        data = b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode() + b"\n"
                        for r in records)
        self._handle.write(data)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._hasher.update(data)
        write_atomically(self.directory / CHECKSUM,
                         f"{self._hasher.hexdigest()}  {MANIFEST}\n".encode())
        self.committed += len(data)
        for record in records:
            self._apply(record)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
