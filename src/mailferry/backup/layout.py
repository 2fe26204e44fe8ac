"""The on-disk layout of a backup: readable folder directories, Maildir file names, dates.

    DIR/<user@host>/                one Maildir-style tree per mailbox
        backup.json                 format, source, compression, encryption (never the key)
        manifest.jsonl              one JSON line per message, folder and flag change
        manifest.jsonl.sha256       `sha256sum -c` checks the manifest with it
        manifest.jsonl.hmac         encrypted backups: HMAC-SHA256 of the manifest (keyed)
        INBOX/cur/<uidvalidity>-<uid>:2,<info>
        Work/Projects/cur/...       folder names as the user sees them ('/' = a level)

Each folder directory is a Maildir (cur/new/tmp) a mail client can open when the backup is
neither compressed nor encrypted; file mtimes are the INTERNALDATE, the Maildir info carries
the system flags, the manifest everything exactly (keywords, the INTERNALDATE string).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

MANIFEST = "manifest.jsonl"
CHECKSUM = "manifest.jsonl.sha256"
AUTH = "manifest.jsonl.hmac"
SETTINGS = "backup.json"
_RESERVED = {"cur", "new", "tmp", MANIFEST, CHECKSUM, AUTH, SETTINGS}
# IMAP system flags <-> Maildir info letters (kept in ASCII order in file names)
_INFO = {"\\Draft": "D", "\\Flagged": "F", "$Forwarded": "P", "\\Answered": "R", "\\Seen": "S",
         "\\Deleted": "T"}
_INFO_LOWER = {k.lower(): v for k, v in _INFO.items()}
_FROM_INFO = {v: k for k, v in _INFO.items()}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _escape_component(name: str) -> str:
    """A folder name as a directory name: readable, reversible, never a Maildir subdir."""
    out = "".join(f"%{ord(c):02X}" if c == "%" or ord(c) < 0x20 or c == "/" else c
                  for c in name)
    if out in _RESERVED or out.startswith(".") or not out:
        out = f"%{ord(out[0]):02X}{out[1:]}" if out else "%00"
    return out


def folder_dir(mailbox_dir: Path, path: Iterable[str]) -> Path:
    return mailbox_dir.joinpath(*(_escape_component(c) for c in path))


def maildir_info(flags: Iterable[str]) -> str:
    return "".join(sorted({_INFO_LOWER[f.lower()] for f in flags if f.lower() in _INFO_LOWER}))


def flags_from_info(info: str) -> list[str]:
    return [_FROM_INFO[c] for c in info if c in _FROM_INFO]


def message_file_name(uidvalidity: int, uid: int, suffix: str, flags: Iterable[str]) -> str:
    return f"{uidvalidity}-{uid}{suffix}:2,{maildir_info(flags)}"


def parse_file_name(name: str) -> tuple[int, int] | None:
    """(uidvalidity, uid) of one of our file names; None for anything else."""
    base = name.split(":2,", 1)[0].split(".", 1)[0]
    left, sep, right = base.partition("-")
    if sep and left.isdigit() and right.isdigit():
        return int(left), int(right)
    return None


def imap_date(when: dt.datetime) -> str:
    """An IMAP INTERNALDATE string: 17-May-2020 09:30:00 +0000."""
    offset = when.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (f"{when.day:02d}-{MONTHS[when.month - 1]}-{when.year:04d} "
            f"{when:%H:%M:%S} {sign}{hours:02d}{mins:02d}")


def parse_imap_date(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


# Only a power cut can show a missing fsync (a killed process loses nothing the kernel has),
# so no outcome test can catch one: tests/backup/test_backup_durability.py records the fsync
# calls made through these two helpers and the manifest's commit, and checks their order.
def write_atomically(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write beside `path`, fsync, rename over it: a reader (or a crash) sees old or new."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if sync:
        fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory entry is durable only once its parent is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)



def mailbox_dir_name(user: str, host: str) -> str:
    return _escape_component(f"{user}@{host}")
