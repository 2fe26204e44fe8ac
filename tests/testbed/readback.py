"""Read a whole mailbox back over real IMAP (stdlib imaplib, independent of mailferry)."""

from __future__ import annotations

import hashlib
import imaplib
import re
from collections import Counter
from dataclasses import dataclass

from testbed.seed import imap_login


@dataclass(frozen=True)
class Stored:
    uid: int
    sha256: str
    flags: frozenset[str]
    internaldate: str
    body: bytes


_META = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE \"([^\"]+)\"")
_LIST = re.compile(rb'\((?P<attrs>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) (?P<name>.+)$')


def list_folders(conn: imaplib.IMAP4) -> dict[str, frozenset[str]]:
    """Wire name -> attributes."""
    typ, data = conn.list()
    assert typ == "OK", data
    folders: dict[str, frozenset[str]] = {}
    for line in data:
        assert isinstance(line, bytes), line  # mUTF-7 names are ASCII: no literals
        match = _LIST.match(line)
        assert match, line
        name = match.group("name").strip(b'"')
        folders[name.decode()] = frozenset(a.decode() for a in match.group("attrs").split())
    return folders


def subscribed(conn: imaplib.IMAP4) -> set[str]:
    typ, data = conn.lsub()
    assert typ == "OK", data
    names = set()
    for line in data:
        if line:
            match = _LIST.match(line if isinstance(line, bytes) else line[0])
            if match:
                names.add(match.group("name").strip(b'"').decode())
    return names


def read_folder(conn: imaplib.IMAP4, folder: str) -> list[Stored]:
    typ, data = conn.select('"' + folder.replace('"', '\\"') + '"', readonly=True)
    assert typ == "OK", (folder, data)
    if int(data[0]) == 0:
        return []
    typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    assert typ == "OK", data
    out = []
    for part in data:
        if not isinstance(part, tuple):
            continue
        uid = flags = date = None
        for match in _META.finditer(part[0]):
            if match.group(1):
                uid = int(match.group(1))
            elif match.group(3):
                date = match.group(3).decode()
            elif match.group(2) is not None:
                flags = frozenset(f.decode() for f in match.group(2).split()) - {"\\Recent"}
        assert uid is not None and flags is not None and date is not None, part[0]
        out.append(Stored(uid, hashlib.sha256(part[1]).hexdigest(), flags, date, part[1]))
    return out


Snapshot = dict[str, Counter[tuple[str, frozenset[str], str]]]


def snapshot(host: str, port: int, user: str, password: str) -> Snapshot:
    """Folder wire name -> multiset of (sha256, flags, internaldate)."""
    conn = imap_login(host, port, user, password)
    try:
        result = {}
        for name, attrs in list_folders(conn).items():
            if "\\Noselect" in attrs or "\\NonExistent" in attrs:
                continue
            result[name] = Counter((m.sha256, m.flags, m.internaldate)
                                   for m in read_folder(conn, name))
        return result
    finally:
        conn.logout()
