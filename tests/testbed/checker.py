"""An independent checker: what an IMAP account holds, and how two accounts differ.

Only stdlib imaplib and hashlib: mailferry is never checked with its own code.

`account_snapshot()` reads every selectable folder: decoded name with the server's delimiter
and personal prefix normalised away ("INBOX.Archive.2003" on Cyrus and "Archive/2003" on
Dovecot are both "Archive/2003"), and per folder the multiset of messages as
(sha256 of BODY[], system flags, keywords, INTERNALDATE as an instant).

`compare()` pairs the messages of a source and a target folder (same bytes first, then the
same message after a known rewrite) and classifies every difference:
missing, extra (duplicates counted), flags, keywords, date, body (with bodydiff's classes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import imaplib
import re
from collections import Counter
from dataclasses import dataclass, field

from testbed import bodydiff, mutf7

SYSTEM_FLAGS = {f.lower(): f for f in
                ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")}
SPECIAL_USES = {u.lower(): u for u in
                ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")}


@dataclass(frozen=True)
class Message:
    sha256: str
    flags: frozenset[str]  # system flags, canonical case, without \Recent
    keywords: frozenset[str]
    instant: int | None  # INTERNALDATE as seconds since the epoch (None: unparsable)
    size: int


@dataclass
class Folder:
    name: str  # normalised: decoded, '/' between levels, no personal prefix
    wire: str  # as the server spells it
    special_use: str | None
    messages: list[Message] = field(default_factory=list)


@dataclass
class AccountSnapshot:
    delimiter: str | None
    prefix: str
    folders: dict[str, Folder]
    bodies: dict[str, bytes]  # sha256 -> BODY[]
    capabilities: frozenset[str] = frozenset()

    def count(self) -> int:
        return sum(len(f.messages) for f in self.folders.values())


def parse_internaldate(text: str) -> int | None:
    try:
        return int(dt.datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z").timestamp())
    except ValueError:
        return None


def normalise_name(wire: str, delimiter: str | None, prefix: str) -> str:
    if wire.upper() == "INBOX":
        return "INBOX"
    if prefix and wire.upper().startswith(prefix.upper()) and len(wire) > len(prefix):
        wire = wire[len(prefix):]
    parts = wire.split(delimiter) if delimiter else [wire]
    return "/".join(mutf7.decode(part) for part in parts)


# -- reading a server ---------------------------------------------------------------------

_LIST_HEAD = re.compile(
    rb'^\((?P<attrs>[^)]*)\) (?:"(?P<delim>(?:\\.|[^"\\])*)"|NIL) ?(?P<rest>.*)$', re.IGNORECASE)


def _unquote(raw: bytes) -> str:
    raw = raw.strip()
    if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
        raw = re.sub(rb'\\(.)', rb"\1", raw[1:-1])
    return raw.decode("utf-8", errors="surrogateescape")


def list_mailboxes(conn: imaplib.IMAP4) -> list[tuple[str, str | None, frozenset[str]]]:
    """(wire name, delimiter, attributes) of every mailbox LIST "" "*" shows."""
    typ, data = conn.list('""', '"*"')
    if typ != "OK":
        raise RuntimeError(f"LIST failed: {data!r}")
    out = []
    items = iter(data)
    for item in items:
        if item is None:
            continue
        if isinstance(item, tuple):  # the name came as a literal
            head, name_raw = item[0], item[1]
            match = _LIST_HEAD.match(head)
            name = name_raw.decode("utf-8", errors="surrogateescape")
        else:
            match = _LIST_HEAD.match(item)
            name = _unquote(match.group("rest")) if match else ""
        if not match:
            raise RuntimeError(f"unparsable LIST line: {item!r}")
        delim_raw = match.group("delim")
        delimiter = re.sub(rb"\\(.)", rb"\1", delim_raw).decode() if delim_raw is not None else None
        attrs = frozenset(a.decode() for a in match.group("attrs").split())
        out.append((name, delimiter, attrs))
    return out


def personal_prefix(conn: imaplib.IMAP4) -> str:
    """The first personal namespace's prefix ("" without NAMESPACE: asked, not read from the
    greeting's capabilities, which some servers extend after login)."""
    try:
        typ, data = conn.namespace()
    except imaplib.IMAP4.error:
        return ""
    if typ != "OK" or not data or not isinstance(data[0], bytes):
        return ""
    match = re.match(rb'\(\("((?:\\.|[^"\\])*)"', data[0])
    return match.group(1).decode() if match else ""


_META = {
    "uid": re.compile(rb"UID (\d+)"),
    "flags": re.compile(rb"FLAGS \(([^)]*)\)"),
    "date": re.compile(rb'INTERNALDATE "([^"]+)"'),
}


def _fetch_records(data: list[object]) -> list[tuple[bytes, bytes]]:
    """(metadata text, BODY[] literal) per message; a server may send FLAGS after the body."""
    records: list[list[bytes]] = []
    for part in data:
        if isinstance(part, tuple):
            records.append([part[0], part[1]])
        elif isinstance(part, bytes) and records:
            records[-1][0] += b" " + part
    return [(meta, body) for meta, body in records]


def quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_messages(conn: imaplib.IMAP4, wire: str, bodies: dict[str, bytes]) -> list[Message]:
    typ, data = conn.select(quote(wire), readonly=True)
    if typ != "OK":
        raise RuntimeError(f"EXAMINE {wire}: {data!r}")
    if not data or int(data[0] or 0) == 0:
        return []
    typ, fetched = conn.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    if typ != "OK":
        raise RuntimeError(f"FETCH in {wire}: {fetched!r}")
    messages = []
    for meta, body in _fetch_records(fetched):
        flags_match, date_match = _META["flags"].search(meta), _META["date"].search(meta)
        if flags_match is None or date_match is None:
            raise RuntimeError(f"FETCH in {wire}: no FLAGS or INTERNALDATE in {meta[:200]!r}")
        names = [f.decode() for f in flags_match.group(1).split()]
        system = frozenset(SYSTEM_FLAGS[f.lower()] for f in names if f.lower() in SYSTEM_FLAGS)
        keywords = frozenset(f for f in names if not f.startswith("\\"))
        digest = hashlib.sha256(body).hexdigest()
        bodies[digest] = body
        messages.append(Message(digest, system, keywords,
                                parse_internaldate(date_match.group(1).decode()), len(body)))
    return messages


def account_snapshot(host: str, port: int, user: str, password: str) -> AccountSnapshot:
    conn = imaplib.IMAP4(host, port)
    try:
        conn.login(user, password)
        _typ, _ = conn.capability()
        prefix = personal_prefix(conn)
        bodies: dict[str, bytes] = {}
        folders: dict[str, Folder] = {}
        delimiter = None
        for wire, delim, attrs in list_mailboxes(conn):
            lowered = {a.lower() for a in attrs}
            if lowered & {"\\noselect", "\\nonexistent"}:
                continue
            delimiter = delimiter or delim
            uses = [SPECIAL_USES[a] for a in lowered if a in SPECIAL_USES]
            folder = Folder(normalise_name(wire, delim, prefix), wire, uses[0] if uses else None)
            folder.messages = read_messages(conn, wire, bodies)
            folders[folder.name] = folder
        return AccountSnapshot(delimiter, prefix, folders, bodies,
                               frozenset(str(c) for c in conn.capabilities))
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()


# -- comparing two accounts ----------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    kind: str  # missing, extra, flags, keywords, date, body, folder_missing
    folder: str
    source: Message | None = None
    target: Message | None = None
    classes: tuple[str, ...] = ()  # for "body": bodydiff classes

    def describe(self) -> str:
        text = f"{self.kind} in {self.folder}"
        if self.classes:
            text += f" ({', '.join(self.classes)})"
        for side, msg in (("source", self.source), ("target", self.target)):
            if msg is not None:
                flags = sorted(msg.flags | msg.keywords)
                text += f"; {side} {msg.sha256[:12]} {flags} {msg.instant}"
        return text


@dataclass
class Comparison:
    differences: list[Difference]
    matched: int  # source messages found on the target (exact or rewritten)
    extra_folders: list[str]

    @property
    def exact(self) -> bool:
        return not self.differences

    def counts(self) -> Counter[str]:
        """kind -> count, with body differences also counted as body:<class>."""
        counts: Counter[str] = Counter()
        for diff in self.differences:
            counts[diff.kind] += 1
            for cls in diff.classes:
                counts[f"body:{cls}"] += 1
        return counts


# fields an mbox server writes into the messages it stores (imap4d, Courier, UW)
MBOX_FIELDS = frozenset({b"x-imapbase", b"x-imap", b"x-uid", b"status", b"x-status",
                         b"x-keywords", b"content-length", b"lines"})


def _loose_key(raw: bytes) -> tuple[bytes, bytes, tuple[bytes, ...]]:
    """What survives every rewrite bodydiff knows: Message-ID, the normalised body text, and
    the header fields unfolded (pymap re-serialises some MIME bodies, keeping the header)."""
    text = raw.split(b"\n", 1)[1] if raw.startswith(b"From ") and b"\n" in raw else raw
    text = re.sub(rb"\r\n|\r", b"\n", text).lstrip(b" \t\n")  # pymap drops leading blanks
    head, _, body = text.partition(b"\n\n")
    if body and all(f.split(b":")[0] in MBOX_FIELDS for f in bodydiff.header_fields(head)):
        # imap4d took a first line of spaces for the end of the header and wrote its own
        # fields above it: the real header follows
        head, _, body = body.lstrip(b" \t\n").partition(b"\n\n")
    message_id = b""
    for line in bodydiff.header_fields(head):
        if line.startswith(b"message-id:"):
            message_id = line
            break
    fields = tuple(f for f in bodydiff.header_fields(head)
                   if f.split(b":")[0] not in MBOX_FIELDS)  # what imap4d injects
    return message_id, body.rstrip(b"\n"), fields


def _compare_folder(name: str, source: list[Message], target: list[Message],
                    source_bodies: dict[str, bytes], target_bodies: dict[str, bytes],
                    ) -> tuple[list[Difference], int]:
    diffs: list[Difference] = []
    left = list(source)
    right = list(target)
    pairs: list[tuple[Message, Message]] = []

    loose: dict[str, tuple[bytes, bytes, tuple[bytes, ...]]] = {}

    def key(msg: Message, bodies: dict[str, bytes], level: int) -> object:
        if level == 0:
            return msg.sha256
        if msg.sha256 not in loose:
            loose[msg.sha256] = _loose_key(bodies[msg.sha256])
        message_id, text, fields = loose[msg.sha256]
        if level == 1:
            return message_id, text
        if level == 2:  # a message without Message-ID pairs only by its own bytes here
            return message_id or msg.sha256
        if level == 3:
            return text
        if level == 4:
            return fields
        # the whole message without any whitespace: a server that moved the end of the
        # header (pymap ends it at a line that is no field) changed only blank lines
        return re.sub(rb"\s+", b"", bodies[msg.sha256].split(b"\n", 1)[-1]
                      if bodies[msg.sha256].startswith(b"From ") else bodies[msg.sha256])

    # same bytes; same Message-ID and text; same Message-ID; same text; same header fields;
    # same non-blank characters
    for level in (0, 1, 2, 3, 4, 5):
        buckets: dict[object, list[Message]] = {}
        for tgt in right:
            buckets.setdefault(key(tgt, target_bodies, level), []).append(tgt)
        for msg in list(left):
            candidates = buckets.get(key(msg, source_bodies, level))
            if not candidates:
                continue
            best = max(candidates, key=lambda t, m=msg: (  # type: ignore[misc]
                t.flags == m.flags, t.keywords == m.keywords, t.instant == m.instant))
            candidates.remove(best)
            pairs.append((msg, best))
            left.remove(msg)
            right.remove(best)
    for src, tgt in pairs:
        if src.sha256 != tgt.sha256:
            classes = bodydiff.classify(source_bodies[src.sha256], target_bodies[tgt.sha256])
            diffs.append(Difference("body", name, src, tgt, classes))
        if src.flags != tgt.flags:
            diffs.append(Difference("flags", name, src, tgt))
        if src.keywords != tgt.keywords:
            diffs.append(Difference("keywords", name, src, tgt))
        if src.instant != tgt.instant:
            diffs.append(Difference("date", name, src, tgt))
    diffs.extend(Difference("missing", name, source=msg) for msg in left)
    diffs.extend(Difference("extra", name, target=msg) for msg in right)
    return diffs, len(pairs)


def _target_folder(source: Folder, target: AccountSnapshot) -> Folder | None:
    found = target.folders.get(source.name)
    if found is not None:
        return found
    if source.special_use:  # mapped onto the target's folder of the same use
        for folder in target.folders.values():
            if folder.special_use == source.special_use:
                return folder
    return None


def compare(source: AccountSnapshot, target: AccountSnapshot) -> Comparison:
    """Every difference between what the source holds and what the target holds."""
    diffs: list[Difference] = []
    matched = 0
    used: set[str] = set()
    for folder in source.folders.values():
        other = _target_folder(folder, target)
        if other is None:
            diffs.append(Difference("folder_missing", folder.name))
            diffs.extend(Difference("missing", folder.name, source=m) for m in folder.messages)
            continue
        used.add(other.name)
        folder_diffs, folder_matched = _compare_folder(
            folder.name, folder.messages, other.messages, source.bodies, target.bodies)
        diffs.extend(folder_diffs)
        matched += folder_matched
    extra_folders = sorted(set(target.folders) - used)
    for name in extra_folders:  # a folder the source lacks: its messages are extra
        diffs.extend(Difference("extra", name, target=m) for m in target.folders[name].messages)
    return Comparison(diffs, matched, extra_folders)


def duplicates(before: AccountSnapshot, after: AccountSnapshot) -> int:
    """Messages a re-run added: per folder, how many more the target holds than before."""
    added = 0
    for name, folder in after.folders.items():
        earlier = before.folders.get(name)
        added += max(0, len(folder.messages) - (len(earlier.messages) if earlier else 0))
    return added
