"""One mailbox's backup directory: its settings, manifest and message files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailferry.backup.codec import COMPRESSIONS, Codec, CorruptFile, key_id
from mailferry.backup.layout import AUTH, MANIFEST, SETTINGS, write_atomically
from mailferry.backup.local import UnreadableMessage
from mailferry.backup.manifest import Manifest, MessageRecord, manifest_key
from mailferry.errors import ConfigError

FORMAT = "mailferry-backup"
# 2: an encrypted backup's manifest is authenticated (manifest.jsonl.hmac); 1 reads the same
VERSION = 2


class ManifestNotAuthenticated(ConfigError):
    """An encrypted backup whose manifest has no HMAC (made before manifests were
    authenticated, or the file was removed): not read unless someone vouches for it."""


@dataclass
class MailboxBackup:
    directory: Path
    source: str
    codec: Codec
    manifest: Manifest
    settings: dict[str, Any]
    authenticated: bool  # an encrypted backup's manifest checked with its HMAC

    @classmethod
    def open(cls, directory: Path, key: bytes | None, *,
             trust_unauthenticated: bool = False) -> MailboxBackup:
        """An existing mailbox backup; ConfigError if it is not one or the key is wrong,
        ManifestDamaged if its manifest does not verify, ManifestNotAuthenticated for an
        encrypted one without HMAC unless `trust_unauthenticated` (then `authenticated` is
        False: check it, then `authenticate()`)."""
        settings_path = directory / SETTINGS
        try:
            settings = json.loads(settings_path.read_text(encoding="utf-8"))
            if settings.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT!r}")
            compression = settings["compression"]
            encrypted = settings["encryption"] is not None
            source = str(settings["source"])
            version = int(settings.get("version", 1))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"not a mailferry backup: {exc}", where=str(settings_path)) from None
        if version > VERSION:
            raise ConfigError(f"made by a newer mailferry (format version {version})",
                              where=str(settings_path))
        if compression not in COMPRESSIONS:
            raise ConfigError(f"unknown compression {compression!r}", where=str(settings_path))
        if encrypted and key is None:
            raise ConfigError("this backup is encrypted: give --key-file", where=str(directory))
        if not encrypted and key is not None:  # never read a "downgraded" backup as plain
            raise ConfigError("--key-file given, but this backup says it is not encrypted",
                              where=str(settings_path))
        if key is not None and key_id(key) != settings.get("key_id"):
            raise ConfigError("--key-file is not the key this backup was made with",
                              where=str(directory))
        codec = Codec(compression, key)
        if key is not None and not (directory / AUTH).exists():
            if not trust_unauthenticated:
                raise ManifestNotAuthenticated(
                    f"the manifest is not authenticated (no {AUTH}: a backup made before "
                    "mailferry authenticated manifests, or the file was removed). If you "
                    "trust this copy, `mailferry backup --verify` checks every file and then "
                    "authenticates it", where=str(directory))
            return cls(directory, source, codec, Manifest.load(directory), settings, False)
        manifest = Manifest.load(directory, manifest_key(key) if key is not None else None)
        return cls(directory, source, codec, manifest, settings, True)

    def authenticate(self) -> None:
        """Vouch for the manifest as loaded: write its HMAC, so any later edit shows."""
        assert self.codec.key is not None
        mac_key = manifest_key(self.codec.key)
        Manifest.authenticate(self.directory, mac_key, self.manifest.committed)
        self.settings.update(version=VERSION, manifest_auth="hmac-sha256")
        write_atomically(self.directory / SETTINGS,
                         json.dumps(self.settings, indent=2).encode() + b"\n")
        self.manifest = Manifest.load(self.directory, mac_key)
        self.authenticated = True

    @classmethod
    def open_or_create(cls, directory: Path, source: str, codec: Codec) -> MailboxBackup:
        if (directory / SETTINGS).exists():
            backup = cls.open(directory, codec.key, trust_unauthenticated=True)
            if not backup.authenticated:  # from before manifests were: this run vouches
                backup.authenticate()
            if backup.codec.compression != codec.compression:
                raise ConfigError(
                    f"this backup was made with compression={backup.codec.compression}, "
                    f"encryption={'on' if backup.codec.key else 'off'}: use the same options",
                    where=str(directory))
            return backup
        directory.mkdir(parents=True, exist_ok=True)
        mac_key = manifest_key(codec.key) if codec.key else None
        Manifest.create(directory, mac_key)
        settings = {"format": FORMAT, "version": VERSION, "source": source,
                    "compression": codec.compression, "manifest": MANIFEST,
                    "manifest_auth": "hmac-sha256" if codec.key else "sha256",
                    "encryption": "aes-256-gcm" if codec.key else None,
                    "key_id": key_id(codec.key) if codec.key else None}
        write_atomically(directory / SETTINGS, json.dumps(settings, indent=2).encode() + b"\n")
        return cls(directory, source, codec, Manifest.load(directory, mac_key), settings, True)

    def read(self, message: MessageRecord) -> bytes:
        """The bytes the manifest records for `message`, checked against its size and sha256
        (so a damaged file, or two files swapped, is never taken for the message);
        UnreadableMessage says why not."""
        path = self.directory / message.file
        root = self.directory.resolve()
        real = path.resolve()
        if not real.is_relative_to(root):  # a symbolic link out of the backup
            raise UnreadableMessage(f"{message.file}: leads out of the backup (to {real}): "
                                    "not read", kind="outside")
        try:
            stored = real.read_bytes()
        except FileNotFoundError:
            raise UnreadableMessage(f"{message.file}: missing", kind="missing") from None
        except OSError as exc:
            raise UnreadableMessage(f"{message.file}: cannot read: {exc.strerror}") from None
        try:
            raw = self.codec.decode(stored)
        except CorruptFile as exc:
            raise UnreadableMessage(f"{message.file}: damaged: {exc}", kind="corrupt") from None
        digest = hashlib.sha256(raw).hexdigest()
        if len(raw) != message.size or digest != message.sha256:
            raise UnreadableMessage(
                f"{message.file}: damaged or not its own: sha256 {digest[:16]}…, {len(raw)} "
                f"bytes where the manifest records {message.sha256[:16]}…, {message.size}",
                kind="corrupt")
        return raw


def mailbox_dirs(root: Path) -> list[Path]:
    """The mailbox backups in `root` (or `root` itself when it is one)."""
    if (root / SETTINGS).exists():
        return [root]
    if not root.is_dir():
        raise ConfigError("no such directory", where=str(root))
    found = sorted(p.parent for p in root.glob(f"*/{SETTINGS}"))
    if not found:
        raise ConfigError("no mailferry backup here", where=str(root))
    return found


def held_messages(directory: Path, key: bytes | None = None,
                  ) -> set[tuple[tuple[str, ...], int, int, str]]:
    """(folder path, UIDVALIDITY, UID, sha256) of each message the mailbox backup in
    `directory` holds now (its manifest, checked as `open` checks it): what a command that
    removes messages asks before it removes them."""
    backup = MailboxBackup.open(directory, key)
    return {(m.folder, m.uidvalidity, m.uid, m.sha256)
            for f in backup.manifest.folders.values() for m in f.messages.values()}
