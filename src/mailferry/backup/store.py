"""One mailbox's backup directory: its settings, manifest and message files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mailferry.backup.codec import COMPRESSIONS, Codec, key_id
from mailferry.backup.layout import MANIFEST, SETTINGS, write_atomically
from mailferry.backup.manifest import Manifest, ManifestDamaged, MessageRecord
from mailferry.errors import ConfigError

FORMAT = "mailferry-backup"
VERSION = 1


@dataclass
class MailboxBackup:
    directory: Path
    source: str
    codec: Codec
    manifest: Manifest

    @classmethod
    def open(cls, directory: Path, key: bytes | None) -> MailboxBackup:
        """An existing mailbox backup; ConfigError if it is not one or the key is wrong."""
        settings_path = directory / SETTINGS
        try:
            settings = json.loads(settings_path.read_text(encoding="utf-8"))
            if settings.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT!r}")
            compression = settings["compression"]
            encrypted = settings["encryption"] is not None
            source = str(settings["source"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"not a mailferry backup: {exc}", where=str(settings_path)) from None
        if compression not in COMPRESSIONS:
            raise ConfigError(f"unknown compression {compression!r}", where=str(settings_path))
        if encrypted and key is None:
            raise ConfigError("this backup is encrypted: give --key-file", where=str(directory))
        if encrypted and key is not None and key_id(key) != settings.get("key_id"):
            raise ConfigError("--key-file is not the key this backup was made with",
                              where=str(directory))
        try:
            manifest = Manifest.load(directory)
        except ManifestDamaged as exc:
            raise ConfigError(f"{exc}; run `mailferry backup --verify`") from None
        return cls(directory, source, Codec(compression, key if encrypted else None), manifest)

    @classmethod
    def open_or_create(cls, directory: Path, source: str, codec: Codec) -> MailboxBackup:
        if (directory / SETTINGS).exists():
            backup = cls.open(directory, codec.key)
            if (backup.codec.compression, backup.codec.key is not None) != (
                    codec.compression, codec.key is not None):
                raise ConfigError(
                    f"this backup was made with compression={backup.codec.compression}, "
                    f"encryption={'on' if backup.codec.key else 'off'}: use the same options",
                    where=str(directory))
            return backup
        directory.mkdir(parents=True, exist_ok=True)
        Manifest.create(directory)
        settings = {"format": FORMAT, "version": VERSION, "source": source,
                    "compression": codec.compression, "manifest": MANIFEST,
                    "encryption": "aes-256-gcm" if codec.key else None,
                    "key_id": key_id(codec.key) if codec.key else None}
        write_atomically(directory / SETTINGS, json.dumps(settings, indent=2).encode() + b"\n")
        return cls(directory, source, codec, Manifest.load(directory))

    def read(self, message: MessageRecord) -> bytes:
        """The original bytes of a message (decoded); CorruptFile or OSError if unreadable."""
        return self.codec.decode((self.directory / message.file).read_bytes())


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
