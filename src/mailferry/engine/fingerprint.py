"""Recognising the same message on two servers without comparing whole bodies.

A fingerprint is a hash of the header block, normalised for what servers are known to change
on the way in: line endings (bare LF or CR stored as CRLF, so RFC822.SIZE differs for the
same message), trailing blanks and NUL bytes. The header block carries Message-ID, Date,
Received and
the rest, so it tells apart messages that lack a Message-ID (Drafts, Sent) too. Computed from
BODY[] on one side and BODY[HEADER] on the other, it gives the same value (tested over the
real-world corpus).
"""

from __future__ import annotations

import hashlib
import re

_LINE_ENDS = re.compile(rb"\r\n|\r")
_TRAILING_BLANKS = re.compile(rb"[ \t]+\n")
# Dovecot stores a NUL byte as 0x80: drop both so such a message still matches itself
_NUL_LIKE = re.compile(rb"[\x00\x80]")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\n[ \t].*)*)", re.I | re.M)
HEADER_LIMIT = 256 * 1024  # a header block larger than this is hashed up to here


def header_block(raw: bytes) -> bytes:
    """The header lines of `raw` (a whole message or its BODY[HEADER]), normalised."""
    text = _LINE_ENDS.sub(b"\n", raw[:HEADER_LIMIT])
    end = text.find(b"\n\n")
    if end >= 0:
        text = text[: end + 1]
    text = _NUL_LIKE.sub(b"", _TRAILING_BLANKS.sub(b"\n", text))
    return text.rstrip(b"\n") + b"\n"


def fingerprint(raw: bytes) -> str:
    return hashlib.sha256(header_block(raw)).hexdigest()[:32]


def message_id(raw: bytes) -> str | None:
    match = _MESSAGE_ID.search(header_block(raw))
    if not match:
        return None
    value = re.sub(rb"\s+", b" ", match.group(1)).strip()
    return value.decode("utf-8", "replace") or None


def subject(raw: bytes) -> str | None:
    match = re.search(rb"^subject:[ \t]*(.*(?:\n[ \t].*)*)", header_block(raw), re.I | re.M)
    if not match:
        return None
    return re.sub(rb"\s+", b" ", match.group(1)).strip().decode("utf-8", "replace")[:200]
