"""The manifest: an append-only JSON-lines journal, committed by its checksum file.

A batch of records is appended and fsynced, then `manifest.jsonl.sha256` (`sha256sum`
format) is replaced atomically with the hash of the whole manifest. Only the prefix whose
hash that file names is committed: a run killed between the two steps leaves a tail that
the next run cuts off (its message files are fetched again). A manifest no line boundary of
which matches the checksum has been damaged and is reported, never rewritten.

An encrypted backup's manifest is authenticated: `manifest.jsonl.hmac` holds an HMAC-SHA256
of it under a key derived from the backup key (HKDF), replaced after the checksum file, and
is then the commit record. Without the key nobody can edit the manifest (drop a record,
change a hash) and make it verify; the unkeyed sha256 only catches accidents.

Every record's file must be a plain relative path inside the backup: an absolute path or a
`..` makes the whole manifest damaged (a hostile or broken manifest is refused, not read).

Records: {"type": "folder", ...} after each folder's messages (the last one wins),
{"type": "message", ...} per message, {"type": "flags", ...} when flags changed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mailferry.backup.layout import AUTH, CHECKSUM, MANIFEST, write_atomically
from mailferry.errors import ConfigError


class ManifestDamaged(ConfigError):
    """The manifest does not match its checksum or HMAC, or holds a record we refuse."""


def manifest_key(backup_key: bytes) -> bytes:
    """The HMAC key of an encrypted backup's manifest, derived from the backup key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"mailferry backup manifest hmac v1").derive(backup_key)


def _inside(file: object) -> str:
    """A record's file: a relative path below the mailbox directory, or ValueError."""
    if not isinstance(file, str) or not file or "\\" in file or "\0" in file:
        raise ValueError(f"file {file!r} is not a relative path")
    path = PurePosixPath(file)
    if path.is_absolute() or any(part in ("..", ".") for part in path.parts):
        raise ValueError(f"file {file!r} leaves the backup directory")
    return file


def _running(data: bytes, wanted: str, start: Any) -> int:
    """The end of the prefix of `data` (at a line end) whose running digest is `wanted`,
    or -1. `start` is a fresh hash or HMAC object."""
    if hmac.compare_digest(start.hexdigest(), wanted):
        return 0
    pos = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        if newline < 0:
            break
        start.update(data[pos:newline + 1])
        pos = newline + 1
        if hmac.compare_digest(start.hexdigest(), wanted):
            return pos
    return -1


def _digest_file(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        raise ManifestDamaged("missing or unreadable", where=str(path)) from None


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
    mac_key: bytes | None = None  # encrypted backups: the HMAC file commits the manifest
    folders: dict[tuple[str, ...], FolderRecord] = field(default_factory=dict)
    committed: int = 0  # bytes of manifest.jsonl that the checksum covers
    tail: int = 0  # bytes after that (an interrupted append)
    _hasher: Any = field(default_factory=hashlib.sha256)
    _mac: Any = None
    _handle: BinaryIO | None = None

    @classmethod
    def load(cls, directory: Path, mac_key: bytes | None = None) -> Manifest:
        """The committed manifest: with `mac_key`, the prefix its HMAC file authenticates
        (ManifestDamaged if none does: edited, damaged, or HMAC file missing)."""
        manifest = cls(directory, mac_key)
        path = directory / MANIFEST
        data = path.read_bytes() if path.exists() else b""
        if mac_key is None:
            end = _running(data, _digest_file(directory / CHECKSUM), hashlib.sha256())
            if end < 0:
                raise ManifestDamaged(f"does not match {CHECKSUM} (edited or damaged)",
                                      where=str(path))
        else:
            end = _running(data, _digest_file(directory / AUTH), manifest._new_mac())
            if end < 0:
                raise ManifestDamaged(f"does not match {AUTH}: edited, damaged, or not made "
                                      "with this key", where=str(path))
        manifest.committed, manifest.tail = end, len(data) - end
        manifest._hasher = hashlib.sha256(data[:end])
        if mac_key is not None:
            manifest._mac = manifest._new_mac()
            manifest._mac.update(data[:end])
        for number, line in enumerate(data[:end].splitlines(), 1):
            try:
                manifest._apply(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ManifestDamaged(f"bad record: {exc}", where=f"{path}:{number}") from None
        return manifest

    def _new_mac(self) -> Any:
        assert self.mac_key is not None
        return hmac.new(self.mac_key, digestmod=hashlib.sha256)

    @staticmethod
    def create(directory: Path, mac_key: bytes | None = None) -> None:
        (directory / MANIFEST).touch()
        write_atomically(directory / CHECKSUM,
                         f"{hashlib.sha256().hexdigest()}  {MANIFEST}\n".encode())
        if mac_key is not None:
            Manifest.authenticate(directory, mac_key)

    @staticmethod
    def authenticate(directory: Path, mac_key: bytes, committed: int | None = None) -> None:
        """Write the HMAC of the manifest's first `committed` bytes (all: None). For a backup
        from before manifests were authenticated: whoever runs this vouches for it."""
        data = (directory / MANIFEST).read_bytes()
        mac = hmac.new(mac_key, data if committed is None else data[:committed], hashlib.sha256)
        write_atomically(directory / AUTH, f"{mac.hexdigest()}  {MANIFEST}\n".encode())

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
                                    record["internaldate"], _inside(record["file"]))
            if folder.messages and message.uidvalidity != folder.uidvalidity:
                folder.older.extend(folder.messages.values())
                folder.messages = {}
            folder.uidvalidity = message.uidvalidity
            folder.messages[message.uid] = message
        elif kind == "flags":
            message = folder.messages[record["uid"]]
            message.flags, message.file = list(record["flags"]), _inside(record["file"])

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
        if self._mac is not None:  # the commit record of an encrypted backup: written last
            self._mac.update(data)
            write_atomically(self.directory / AUTH, f"{self._mac.hexdigest()}  {MANIFEST}\n"
                             .encode())
        self.committed += len(data)
        for record in records:
            self._apply(record)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
