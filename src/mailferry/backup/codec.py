"""How message files are stored: as is, compressed (zstd, gzip) and/or encrypted (AES-GCM).

Encryption uses AES-256-GCM from the `cryptography` package with a 32-byte key read from a
file; GCM authenticates, so a flipped bit in an encrypted file fails to decrypt and is
reported as corruption. Each file: MAGIC, a random 12-byte nonce, ciphertext and tag.
The key itself is never written into the backup: backup.json keeps only a key id (a hash)
so a wrong key is told apart from a corrupt file.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mailferry.errors import ConfigError

COMPRESSIONS = ("none", "zstd", "gzip")
MAGIC = b"MFB1"
_AAD = b"mailferry-backup-v1"


class CorruptFile(Exception):
    """A stored file that cannot be decoded (bad tag, bad compressed stream)."""


def read_key(path: Path) -> bytes:
    """A key file holds 32 bytes as base64 (e.g. `head -c32 /dev/urandom | base64`) or hex."""
    where = f"--key-file {path}"
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read key file: {exc}", where=where) from None
    for decode in (bytes.fromhex, base64.b64decode, base64.urlsafe_b64decode):
        try:
            key = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise ConfigError("key file must hold 32 bytes as base64 or 64 hex digits", where=where)


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"mailferry key id\0" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Codec:
    compression: str = "none"
    key: bytes | None = None

    @property
    def suffix(self) -> str:
        return {"none": "", "zstd": ".zst", "gzip": ".gz"}[self.compression] + (
            ".enc" if self.key else "")

    def encode(self, raw: bytes) -> bytes:
        data = raw
        if self.compression == "zstd":
            data = zstandard.ZstdCompressor(level=3).compress(data)
        elif self.compression == "gzip":
            data = gzip.compress(data, compresslevel=6, mtime=0)
        if self.key is not None:
            nonce = os.urandom(12)
            data = MAGIC + nonce + AESGCM(self.key).encrypt(nonce, data, _AAD)
        return data

    def decode(self, stored: bytes) -> bytes:
        data = stored
        try:
            if self.key is not None:
                if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 12 + 16:
                    raise CorruptFile("not an encrypted mailferry file")
                nonce = data[len(MAGIC):len(MAGIC) + 12]
                data = AESGCM(self.key).decrypt(nonce, data[len(MAGIC) + 12:], _AAD)
            if self.compression == "zstd":
                data = zstandard.ZstdDecompressor().decompress(data)
            elif self.compression == "gzip":
                data = gzip.decompress(data)
        except (InvalidTag, zstandard.ZstdError, OSError, EOFError) as exc:
            raise CorruptFile(f"cannot decode: {type(exc).__name__} {exc}".strip()) from None
        return data
