"""The seeded mailbox of the interop matrix, and seeding it into any IMAP server.

The mailbox: nested, spaced and non-ASCII folders, flags, keywords, dates from 1971 to 2021
plus a few in 2043, and a slice of the real-world corpus with its malformed messages (NUL,
bare CR/LF, 8-bit headers, leading "From " lines, no final newline) kept byte for byte.

`seed_mailbox()` discovers the server's delimiter and personal prefix, creates the folders
(a parent that will have children first as "Parent<delim>", the RFC 3501 hint some servers
need) and APPENDs with stdlib imaplib. Whatever the server refuses is recorded with its words
and seeding goes on (a keyword refused: the message is appended again without keywords);
the matrix then compares against what the source holds, read back, not against this list.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from testbed import mutf7
from testbed.checker import personal_prefix, quote
from testbed.corpus import corpus_files
from testbed.messages import make_message

FOLDERS: tuple[tuple[str, ...], ...] = (
    ("INBOX",), ("Archive",), ("Archive", "2003"), ("Archive", "2003", "Q1"),
    ("Old Mail 2003",), ("Projets",), ("Projets", "Café ☕"), ("Ünïcödé",), ("日本語",),
    ("Work & Play",), ("Sent",), ("Drafts",),
)
CORPUS_FOLDERS = (("INBOX",), ("Archive", "2003"), ("Old Mail 2003",), ("Projets", "Café ☕"))
KEYWORDS = ("$Label1", "$Forwarded", "Work", "$NotJunk")
FUTURE = dt.datetime(2043, 3, 14, 15, 9, 26, tzinfo=dt.UTC)


@dataclass(frozen=True)
class MatrixMessage:
    raw: bytes
    folder: tuple[str, ...]
    flags: tuple[str, ...]
    keywords: tuple[str, ...]
    internaldate: dt.datetime
    origin: str  # "generated #n" or the corpus file


@dataclass
class SeedReport:
    server: str
    refused: list[str] = field(default_factory=list)  # "<what>: <server's words>"
    appended: int = 0


def _corpus_traits(raw: bytes) -> set[str]:
    crlf = raw.count(b"\r\n")
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    traits = set()
    if b"\0" in raw:
        traits.add("nul")
    if raw.count(b"\r") != crlf or (crlf and raw.count(b"\n") != crlf):
        traits.add("mixed_line_ends")
    if re.search(rb"[\x80-\xff]", head):
        traits.add("eight_bit_header")
    if raw.startswith(b"From "):
        traits.add("from_line")
    if not raw.endswith(b"\n"):
        traits.add("no_final_newline")
    traits.add("lf_only" if not crlf else "crlf")
    return traits


def corpus_slice(count: int, *, max_size: int = 200_000) -> list[Path]:
    """`count` corpus files, deterministic: every malformed kind first, then ordinary ones."""
    if count <= 0:
        return []
    files = [p for p in corpus_files() if p.stat().st_size <= max_size]  # loud when missing
    traits = {p: _corpus_traits(p.read_bytes()) for p in files}
    chosen: list[Path] = []
    quotas = {"nul": 3, "mixed_line_ends": 8, "eight_bit_header": 12, "from_line": 8,
              "no_final_newline": 8}
    for trait, quota in quotas.items():
        picks = [p for p in files if trait in traits[p] and p not in chosen]
        chosen.extend(picks[:max(1, quota * count // 200)])
    rng = random.Random(20)
    rest = [p for p in files if p not in chosen]
    rng.shuffle(rest)
    chosen.extend(rest[:max(0, count - len(chosen))])
    return chosen[:count] if len(chosen) > count else chosen


def _date(rng: random.Random) -> dt.datetime:
    start = dt.datetime(1971, 1, 1, tzinfo=dt.UTC)
    span = int((dt.datetime(2021, 12, 31, tzinfo=dt.UTC) - start).total_seconds())
    return start + dt.timedelta(seconds=rng.randrange(span))


def matrix_mailbox(*, generated: int = 60, corpus: int = 200,
                   seed: int = 20) -> list[MatrixMessage]:
    rng = random.Random(seed)
    out: list[MatrixMessage] = []
    folders = FOLDERS
    for n in range(generated):
        folder = folders[n % len(folders)]
        date = FUTURE + dt.timedelta(days=n) if n % 25 == 7 else _date(rng)
        flags = tuple(f for f, p in (("\\Seen", 0.7), ("\\Flagged", 0.15), ("\\Answered", 0.2))
                      if rng.random() < p)
        if folder == ("Drafts",):
            flags += ("\\Draft",)
        keywords = tuple(k for k in KEYWORDS if rng.random() < 0.15)
        raw = make_message(rng, n, size=rng.randint(300, 6000), message_id=n % 9 != 4,
                           date=date)
        out.append(MatrixMessage(raw, folder, flags, keywords, date, f"generated #{n}"))
    for n, path in enumerate(corpus_slice(corpus)):
        folder = CORPUS_FOLDERS[n % len(CORPUS_FOLDERS)]
        flags = ("\\Seen",) if n % 3 else ()
        keywords = (KEYWORDS[n % len(KEYWORDS)],) if n % 7 == 0 else ()
        out.append(MatrixMessage(path.read_bytes(), folder, flags, keywords, _date(rng),
                                 f"{path.parent.name}/{path.name}"))
    return out


# -- seeding ------------------------------------------------------------------------------

def server_layout(conn: imaplib.IMAP4) -> tuple[str, str]:
    """(delimiter, personal prefix) as the server says them."""
    typ, data = conn.list('""', '""')
    delimiter = "/"
    if typ == "OK" and data and isinstance(data[0], bytes):
        match = re.match(rb'\([^)]*\) "((?:\\.|[^"\\])*)"', data[0])
        if match:
            delimiter = match.group(1).decode().replace("\\\\", "\\")
    return delimiter, personal_prefix(conn)


def wire_name(folder: tuple[str, ...], delimiter: str, prefix: str) -> str:
    if folder == ("INBOX",):
        return "INBOX"
    return prefix + delimiter.join(mutf7.encode(part) for part in folder)


class _Seeder:
    """One imaplib connection that reconnects when the server drops it (pymap does, on some
    commands it cannot handle), recording every refusal with the server's words."""

    def __init__(self, host: str, port: int, user: str, password: str, report: SeedReport):
        self.address, self.login, self.report = (host, port), (user, password), report
        self.conn = self._connect()

    def _connect(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(*self.address)
        conn.login(*self.login)
        return conn

    def run(self, what: str, command: str, *args: object) -> bool:
        try:
            typ, data = getattr(self.conn, command)(*args)
        except imaplib.IMAP4.abort as exc:
            self.report.refused.append(f"{what}: connection dropped: {exc}")
            self.conn = self._connect()
            return False
        except imaplib.IMAP4.error as exc:
            self.report.refused.append(f"{what}: BAD {exc}")
            return False
        if typ == "OK":
            return True
        words = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        self.report.refused.append(f"{what}: {typ} {words}")
        return False

    def close(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.conn.logout()


def _create_folders(seeder: _Seeder, folders: list[tuple[str, ...]], delimiter: str,
                    prefix: str) -> None:
    """Parents first. A server that cannot give a folder children once it exists as a plain
    folder (imap4d's mbox files) gets the parent again as "Parent<delim>", empty as it is."""
    for folder in sorted(folders, key=len):
        if folder == ("INBOX",):
            continue
        wire = wire_name(folder, delimiter, prefix)
        if not seeder.run(f"CREATE {wire}", "create", quote(wire)) and len(folder) > 1:
            parent = wire_name(folder[:-1], delimiter, prefix)
            seeder.run(f"DELETE {parent}", "delete", quote(parent))
            seeder.run(f"CREATE {parent}{delimiter}", "create", quote(parent + delimiter))
            seeder.run(f"CREATE {wire} (again)", "create", quote(wire))
        seeder.run(f"SUBSCRIBE {wire}", "subscribe", quote(wire))


def seed_mailbox(host: str, port: int, user: str, password: str,
                 messages: list[MatrixMessage], *, server: str = "") -> SeedReport:
    report = SeedReport(server or f"{host}:{port}")
    seeder = _Seeder(host, port, user, password, report)
    try:
        delimiter, prefix = server_layout(seeder.conn)
        _create_folders(seeder, list({m.folder for m in messages} | set(FOLDERS)),
                        delimiter, prefix)
        for msg in messages:
            wire = wire_name(msg.folder, delimiter, prefix)
            date = imaplib.Time2Internaldate(msg.internaldate)
            attempts = [msg.flags + msg.keywords] + ([msg.flags] if msg.keywords else [])
            for flags in attempts:
                if seeder.run(f"APPEND {msg.origin} to {wire} with flags {flags}", "append",
                              quote(wire), "(" + " ".join(flags) + ")", date, msg.raw):
                    report.appended += 1
                    break
    finally:
        seeder.close()
    return report
