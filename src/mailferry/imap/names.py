"""Mailbox names: modified UTF-7 on the wire (RFC 3501 5.1.3), Unicode everywhere else."""

from __future__ import annotations


def decode_name(wire: bytes) -> str:
    if b"&" not in wire:
        return wire.decode("ascii", "replace")
    # imported only when a name needs it: the package costs ~0.1 s to import
    from imapclient.imap_utf7 import decode

    return str(decode(wire))


def encode_name(name: str) -> bytes:
    if name.isascii() and "&" not in name:
        return name.encode("ascii")
    from imapclient.imap_utf7 import encode

    return bytes(encode(name))
