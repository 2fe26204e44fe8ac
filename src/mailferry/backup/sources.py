"""Openers of local MessageSources: a backup directory, an mbox file, a Maildir.

UIDs must stay the same across runs so a re-run is incremental: a backup keeps the source's
UIDVALIDITY and UIDs; an mbox or Maildir numbers its messages in file order and derives
UIDVALIDITY from that order, so if the file changes the engine sees a new UIDVALIDITY and
matches by fingerprint instead of trusting stale UIDs (no duplicates either way).
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from mailferry.backup.layout import flags_from_info, imap_date
from mailferry.backup.local import LocalFolder, LocalMessage, LocalSource
from mailferry.backup.manifest import MessageRecord
from mailferry.backup.store import MailboxBackup
from mailferry.engine import SourceOpener
from mailferry.errors import ConfigError
from mailferry.imap import SessionLimits


def backup_source(directory: Path, key: bytes | None) -> SourceOpener:
    backup = MailboxBackup.open(directory, key)  # checks settings and key before any copy

    def reader(message: MessageRecord) -> Callable[[], bytes]:
        return lambda: backup.read(message)

    def open_source(_limits: SessionLimits) -> LocalSource:
        folders = []
        for record in MailboxBackup.open(directory, key).manifest.folders.values():
            messages = [LocalMessage(m.uid, tuple(m.flags), m.internaldate, m.size, reader(m))
                        for m in sorted(record.messages.values(), key=lambda m: m.uid)]
            folders.append(LocalFolder(record.path, record.uidvalidity or 1, messages,
                                       record.special_use, record.subscribed))
        return LocalSource(folders, f"backup:{directory.resolve()}")

    return SourceOpener(f"backup:{directory.resolve()}", open_source)


def _uidvalidity(keys: Sequence[object]) -> int:
    return (zlib.crc32(repr(list(keys)).encode()) & 0x7FFFFFFF) or 1


_STATUS = re.compile(rb"^(x-)?status:[ \t]*([A-Za-z]*)", re.I | re.M)


def _mbox_flags(header: bytes) -> tuple[str, ...]:
    """mutt/Thunderbird keep flags in Status: (R read) and X-Status: (A answered,
    F flagged, D deleted, T draft)."""
    letters = "".join(m.group(2).decode() for m in _STATUS.finditer(header))
    table = {"R": "\\Seen", "A": "\\Answered", "F": "\\Flagged", "D": "\\Deleted", "T": "\\Draft"}
    return tuple(sorted({table[c] for c in letters if c in table}))


def _from_line_date(line: str) -> str:
    """The date of an mbox 'From sender Sat Jan  3 01:05:34 1996' line, as INTERNALDATE."""
    parts = line.split()
    for count in (5, 6):  # a time zone word sometimes follows the time
        try:
            when = dt.datetime.strptime(" ".join(parts[-count:][:5]), "%a %b %d %H:%M:%S %Y")
            return imap_date(when.replace(tzinfo=dt.UTC))
        except (ValueError, IndexError):
            continue
    return ""


def mbox_source(path: Path, folder: str) -> SourceOpener:
    """An mbox file: messages start at 'From ' lines after a blank line (or at the top);
    the bytes between are kept as they are (no '>From' unescaping: mboxo and mboxrd files
    cannot be told apart, and changing bytes would break byte-exactness)."""
    if not path.is_file():
        raise ConfigError("no such mbox file", where=str(path))

    def open_source(_limits: SessionLimits) -> LocalSource:
        spans = _mbox_spans(path)
        messages = []
        for uid, (start, body, end) in enumerate(spans, 1):
            with open(path, "rb") as handle:
                handle.seek(start)
                from_line = handle.readline().decode("latin-1")
                header = _read_header(handle, end)
            messages.append(LocalMessage(uid, _mbox_flags(header), _from_line_date(from_line),
                                         end - body, _span_reader(path, body, end)))
        return LocalSource([LocalFolder(tuple(folder.split("/")), _uidvalidity(spans),
                                        messages)], f"mbox:{path.resolve()}")

    return SourceOpener(f"mbox:{path.resolve()}", open_source)


def _mbox_spans(path: Path) -> list[tuple[int, int, int]]:
    """(From-line offset, body offset, end offset) per message, in one streaming pass; the
    blank line before a 'From ' line separates messages and belongs to neither."""
    spans: list[tuple[int, int, int]] = []
    start = body = -1
    offset = previous = 0
    previous_blank = True
    with open(path, "rb") as handle:
        for line in handle:
            if line.startswith(b"From ") and previous_blank:
                if start >= 0:
                    spans.append((start, body, max(body, offset - previous)))
                start, body = offset, offset + len(line)
            previous_blank, previous = line in (b"\n", b"\r\n"), len(line)
            offset += len(line)
    if start >= 0:  # the last message is followed by a blank line too, usually
        spans.append((start, body, max(body, offset - previous if previous_blank else offset)))
    return spans


def _read_header(handle: BinaryIO, end: int) -> bytes:
    lines = []
    while handle.tell() < end:
        line = handle.readline()
        if line in (b"\n", b"\r\n", b""):
            break
        lines.append(line)
    return b"".join(lines)


def _span_reader(path: Path, start: int, end: int) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)
    return read


def maildir_source(path: Path, folder: str) -> SourceOpener:
    """A Maildir (cur/ and new/) and its Maildir++ subfolders (.Sub.Folder)."""
    if not (path / "cur").is_dir():
        raise ConfigError("not a Maildir (no cur/ directory)", where=str(path))

    def open_source(_limits: SessionLimits) -> LocalSource:
        base = tuple(folder.split("/"))
        folders = [_maildir_folder(path, base)]
        for sub in sorted(p for p in path.iterdir() if p.name.startswith(".")
                          and (p / "cur").is_dir()):
            folders.append(_maildir_folder(sub, (*base, *sub.name[1:].split("."))))
        return LocalSource(folders, f"maildir:{path.resolve()}")

    return SourceOpener(f"maildir:{path.resolve()}", open_source)


def _maildir_folder(directory: Path, path: tuple[str, ...]) -> LocalFolder:
    files = sorted((p for sub in ("new", "cur") for p in (directory / sub).iterdir()
                    if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: p.name.split(":", 1)[0])
    messages = []
    for uid, file in enumerate(files, 1):
        info = file.name.split(":2,", 1)[1] if ":2," in file.name else ""
        stat = file.stat()
        mtime = dt.datetime.fromtimestamp(int(stat.st_mtime), dt.UTC)
        messages.append(LocalMessage(uid, tuple(flags_from_info(info)), imap_date(mtime),
                                     stat.st_size, file.read_bytes))
    keys = [f.name.split(":", 1)[0] for f in files]
    return LocalFolder(path, _uidvalidity(keys), messages)
