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


def _through_first_blank_line(raw: bytes, start: int = 0) -> bytes:
    """`raw` up to its first blank line at or after `start` (or HEADER_LIMIT), the rest cut
    off before it is normalised: the callers' results are the same as with the whole of
    `raw[:HEADER_LIMIT]`, without rewriting a body they then throw away (most of the cost of
    fingerprinting a copy: the bench's bodies are 10-40x their headers). Two line ends in a
    row, in any spelling, contain one of these three pairs, and each pair is two line ends."""
    end = HEADER_LIMIT
    for pair in (b"\n\r", b"\n\n", b"\r\r"):  # CRLF mail has the first one: look for it first
        found = raw.find(pair, start, end)
        if found >= 0:
            end = found + 3  # both line ends, and the LF of a CR LF that the second one starts
    return raw[:min(end, HEADER_LIMIT)]


def header_block(raw: bytes) -> bytes:
    """The header lines of `raw` (a whole message or its BODY[HEADER]), normalised."""
    text = _LINE_ENDS.sub(b"\n", _through_first_blank_line(raw))
    # the first empty line ends the header; one at the very top means there is none
    end = (b"\n" + text).find(b"\n\n")
    if end >= 0:
        text = text[:end]
    text = _NUL_LIKE.sub(b"", _TRAILING_BLANKS.sub(b"\n", text))
    return text.rstrip(b"\n") + b"\n"


# Fields a server writes into the messages it stores (mbox bookkeeping: GNU imap4d, Courier,
# UW); they are no part of the message a client appended.
BOOKKEEPING_FIELDS = frozenset({
    b"x-imapbase", b"x-imap", b"x-uid", b"status", b"x-status", b"x-keywords",
    b"content-length", b"lines",
})
_HIGH_RUN = re.compile(rb"[X\x80-\xff]+")
# what robust_fingerprint drops before the header: a mbox "From " line, blank lines, blanks
_LEADING_NOISE = re.compile(rb"(?:From [^\r\n]*(?:\r\n|\r|\n))?[ \t\r\n]*")
_WHITESPACE = re.compile(rb"\s+")
_COLON_RUN = re.compile(rb":{2,}")
# a line of blanks, unless a folded line follows it (obsolete folding, RFC 5322 4.2)
_BLANK_LINE = re.compile(rb"\n[ \t]+(?=\n(?![ \t]))")
_EIGHT_BIT_NAME = re.compile(rb"[^:\n]*[\x80-\xff][^:\n]*:")


def robust_fingerprint(raw: bytes) -> str:
    """A fingerprint that sees through what servers do to a message's header on the way in
    (issue 20 point 4): a leading mbox "From " line dropped, leading blank lines dropped,
    fields re-folded or their names' case changed, raw 8-bit bytes replaced by 'X' (Cyrus),
    mbox bookkeeping fields injected (imap4d), above the header too, runs of ':', the header
    cut at a line that is no field and a second From/Subject/... dropped (pymap). Two
    messages with this fingerprint differ in header whitespace, 8-bit bytes, bookkeeping or
    malformed lines only."""
    return robust_fingerprints(raw)[0]


def robust_fingerprints(raw: bytes) -> tuple[str, str | None]:
    """robust_fingerprint, and the same with the header ended at the first field name (after
    the first field) with 8-bit bytes in it, or None when there is none. pymap ends the header
    there; Cyrus keeps the field with 'X' for the bytes: one fingerprint cannot follow both,
    so the matcher looks for the second when the first finds nothing."""
    skipped = _LEADING_NOISE.match(raw)
    kept = _robust_fields(_through_first_blank_line(raw, skipped.end() if skipped else 0))
    if kept is None:  # bookkeeping only before the first blank line (imap4d): read further
        kept = _robust_fields(raw[:HEADER_LIMIT], whole=True) or []
    parsed = _as_parsed(kept)
    cut = next((n for n, field_ in enumerate(parsed) if n and _EIGHT_BIT_NAME.match(field_)),
               None)
    return _robust_hash(parsed), None if cut is None else _robust_hash(parsed[:cut])


def _robust_hash(fields: list[bytes]) -> str:
    block = _WHITESPACE.sub(b"", _HIGH_RUN.sub(b"X", b"\n".join(fields))).lower()
    block = _COLON_RUN.sub(b":", block)  # imap4d turns "From : x" into "From : : : x"
    return "r" + hashlib.sha256(block).hexdigest()[:31]


def _robust_fields(raw: bytes, *, whole: bool = False) -> list[bytes] | None:
    """The header fields robust_fingerprint hashes, unnormalised, bookkeeping left out; None
    when `raw` was cut after the first blank line and the fields lie beyond it."""
    text = _LINE_ENDS.sub(b"\n", raw)
    if text.startswith(b"From "):
        text = text.split(b"\n", 1)[1] if b"\n" in text else b""
    # a line of blanks ends the header as an empty one does (pymap drops the blanks), unless
    # the field goes on below it (pymap keeps that as one folded field)
    text = _BLANK_LINE.sub(b"\n\n", text).lstrip(b" \t\n")
    while True:
        end = text.find(b"\n\n")
        block = text[: end + 1] if end >= 0 else text
        fields = re.split(rb"\n(?![ \t])", _NUL_LIKE.sub(b"", block))
        kept = [f for f in fields
                if f.strip() and f.partition(b":")[0].strip().lower() not in BOOKKEEPING_FIELDS]
        if kept or end < 0:
            return kept
        if not whole:
            return None
        # only bookkeeping: an mbox server (imap4d) took a blank-looking first line for the
        # end of the header and wrote its fields above it; the real header comes next
        text = text[end:].lstrip(b" \t\n")


# fields RFC 5322 allows once: a server that parses the header may keep the first only
SINGLE_FIELDS = frozenset({
    b"date", b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc", b"message-id",
    b"in-reply-to", b"references", b"subject",
})


def _as_parsed(fields: list[bytes]) -> list[bytes]:
    """The fields a server that parses the header keeps (pymap): up to the first line that
    is not a field (it ends the header there), the first of each field allowed once."""
    kept: list[bytes] = []
    once: set[bytes] = set()
    for field_ in fields:
        name, colon, _ = field_.split(b"\n", 1)[0].partition(b":")
        if not colon:
            break
        name = name.strip().lower()
        if name in SINGLE_FIELDS:
            if name in once:
                continue
            once.add(name)
        kept.append(field_)
    return kept


def hides_header(header: bytes) -> bool:
    """A header block that is empty or holds nothing but a server's bookkeeping fields: what
    imap4d gives as BODY[HEADER] of a message whose first line looked blank to it, and
    pymap of one it re-serialised with a blank line first (the real header is in the
    BODY[TEXT]); such a message is known by its whole BODY[]."""
    text = _LINE_ENDS.sub(b"\n", header[:HEADER_LIMIT]).strip()
    if not text:
        return True
    fields = re.split(rb"\n(?![ \t])", text)
    return all(f.partition(b":")[0].strip().lower() in BOOKKEEPING_FIELDS for f in fields)


def fingerprint(raw: bytes) -> str:
    return block_fingerprint(header_block(raw))


def block_fingerprint(block: bytes) -> str:
    """The fingerprint of a header block `header_block` made."""
    return hashlib.sha256(block).hexdigest()[:32]


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


# -- mail delivered twice (dual delivery) -----------------------------------------------------
#
# Each receiving server prepends its own trace and delivery fields (Dovecot's LMTP:
# Return-Path, Delivered-To, Received; providers: Authentication-Results, ARC-*, spam and
# virus verdicts, ...), so the copy the old server stored and the copy the new one stored of
# one relayed message differ in their top header lines only. DKIM-Signature is not among
# them: senders (or lists) add it, and it is the same in both copies.
DELIVERY_FIELDS = frozenset({
    "return-path", "received", "delivered-to", "x-original-to", "x-delivered-to",
    "envelope-to", "x-envelope-to", "x-envelope-from", "authentication-results",
    "x-original-authentication-results", "received-spf", "arc-seal", "arc-message-signature",
    "arc-authentication-results", "x-received", "x-virus-scanned", "x-virus-status",
    "x-forefront-antispam-report", "x-sieve", "x-greylist", "x-policyd-weight",
})
DELIVERY_PREFIXES = ("x-spam-", "x-rspamd-", "x-virus-", "x-ms-exchange-organization-",
                     "x-microsoft-antispam", "x-mimecast-", "x-proofpoint-")
_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")


def _is_delivery_field(line: bytes) -> bool:
    name, colon, _ = line.partition(b":")
    if not colon:
        return False
    text = name.strip().decode("ascii", "replace").lower()
    return text in DELIVERY_FIELDS or text.startswith(DELIVERY_PREFIXES)


def below_delivery_fields(block: bytes) -> bytes | None:
    """A normalised header block without its leading run of delivery fields, or None when
    it has no such run (or nothing else)."""
    lines = block.split(b"\n")
    cut = 0
    while cut < len(lines) and lines[cut]:
        if not _is_delivery_field(lines[cut]):
            break
        cut += 1
        while cut < len(lines) and lines[cut][:1] in (b" ", b"\t"):
            cut += 1  # folded continuation of that field
    rest = b"\n".join(lines[cut:])
    if cut == 0 or not rest.strip():
        return None
    return rest


def relayed_fingerprint(block: bytes) -> str | None:
    """The fingerprint of what is left below the delivery fields (see `header_block`)."""
    rest = below_delivery_fields(block)
    if rest is None:
        return None
    return hashlib.sha256(b"below delivery fields\n" + rest).hexdigest()[:32]


def body_digest(raw: bytes) -> str:
    """sha256 of the text below the header block, line ends and NUL rewrites normalised: two
    deliveries of one message have the same, whatever their delivery fields."""
    match = _HEADER_END.search(raw)
    text = raw[match.end():] if match else b""
    return hashlib.sha256(_NUL_LIKE.sub(b"", _LINE_ENDS.sub(b"\n", text))).hexdigest()
