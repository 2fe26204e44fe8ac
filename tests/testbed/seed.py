"""Seed raw bytes into a real IMAP server with chosen flags, keywords and INTERNALDATE.

Deliberately independent of mailferry's own IMAP code (stdlib imaplib), so tests of
mailferry do not check mailferry with itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SeedMessage:
    raw: bytes
    folder: str = "INBOX"
    flags: tuple[str, ...] = ()
    internaldate: dt.datetime = field(
        default_factory=lambda: dt.datetime(2020, 5, 17, 9, 30, 0, tzinfo=dt.UTC))


def imap_login(host: str, port: int, user: str, password: str) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(host, port)
    conn.login(user, password)
    return conn


@contextlib.contextmanager
def imap_session(host: str, port: int, user: str, password: str) -> Iterator[imaplib.IMAP4]:
    """A logged-in connection whose socket is closed at the end even when the server had
    dropped it (imaplib's logout then raises and leaves it open, and the leaked socket's
    warning fails whichever test is running when it is collected)."""
    conn = imap_login(host, port, user, password)
    try:
        yield conn
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()
        conn.sock.close()


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def seed(conn: imaplib.IMAP4, messages: Iterable[SeedMessage], *, create: bool = True) -> list[int]:
    """APPEND each message; folders (wire names, already modified UTF-7) are created as needed.
    Returns the APPENDUIDs."""
    created: set[str] = set()
    uids: list[int] = []
    for msg in messages:
        if create and msg.folder not in created and msg.folder.upper() != "INBOX":
            conn.create(_quote(msg.folder))  # NO [ALREADYEXISTS] is fine
            conn.subscribe(_quote(msg.folder))
            created.add(msg.folder)
        flags = "(" + " ".join(msg.flags) + ")"
        typ, data = conn.append(_quote(msg.folder), flags, imaplib.Time2Internaldate(
            msg.internaldate), msg.raw)
        if typ != "OK":
            raise RuntimeError(f"seed APPEND to {msg.folder} failed: {data!r}")
        text = data[0].decode() if data and data[0] else ""
        if "APPENDUID" in text:
            uids.append(int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]")))
    return uids
