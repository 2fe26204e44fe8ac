"""Mailbox names: modified UTF-7 on the wire (RFC 3501 5.1.3), Unicode everywhere else.

Hand-written rather than imapclient's imap_utf7: importing that module imports the whole
imapclient package (imaplib, ssl, ...), ~55 ms of a no-change re-run's ~300 ms whenever one
folder name is not ASCII (bench/wan_bench.py). The results are imapclient's, malformed
names included (tests/imap/test_names.py compares them; names without "&" are as they
always were here), because a folder's target name is derived from its decoded name: a
different decoding would put the mail of a folder copied by an earlier version somewhere
else."""

from __future__ import annotations

import base64
import re

# a shift to base64: from "&" up to "-" or the end of the name, "&"s included (as imapclient)
_SHIFTED = re.compile(rb"&([^-]*)(-|\Z)")
# runs of printable ASCII (sent as they are) and of anything else (shifted)
_RUNS = re.compile(r"([\x20-\x7e]+)|([^\x20-\x7e]+)")


def _unshift(match: re.Match[bytes]) -> str:
    chunk, dash = match.group(1), match.group(2)
    if not chunk and dash:
        return "&"
    # the stdlib UTF-7 codec is modified UTF-7's base64 with "/" for ","; it raises
    # UnicodeDecodeError on what is not base64 of UTF-16, as imapclient does
    return (b"+" + chunk.replace(b",", b"/") + b"-").decode("utf-7")


def decode_name(wire: bytes) -> str:
    if b"&" not in wire:
        return wire.decode("ascii", "replace")
    out: list[str] = []
    at = 0
    for match in _SHIFTED.finditer(wire):
        out.append(wire[at:match.start()].decode("latin-1"))
        out.append(_unshift(match))
        at = match.end()
    out.append(wire[at:].decode("latin-1"))
    return "".join(out)


def _shift(run: str) -> bytes:
    data = base64.b64encode(run.encode("utf-16-be")).rstrip(b"=")
    return b"&" + data.replace(b"/", b",") + b"-"


def encode_name(name: str) -> bytes:
    if name.isascii() and "&" not in name:
        return name.encode("ascii")
    out: list[bytes] = []
    for printable, run in _RUNS.findall(name):
        out.append(printable.replace("&", "&-").encode("ascii") if printable else _shift(run))
    return b"".join(out)
