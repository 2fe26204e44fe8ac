"""What the target did to the messages we appended: read back, compared, each change
reported by class (issue 20 point 4).

Servers rewrite on the way in, and most say nothing: Cyrus replaces raw 8-bit header bytes
by 'X', Courier appends a final CRLF, pymap serves bare LF and re-folds headers, imap4d
writes its mbox bookkeeping fields into the header, Dovecot replaces a future INTERNALDATE
by the time of the APPEND. So after every batch the target's RFC822.SIZE and INTERNALDATE of
each appended message are fetched (one round trip), and whole bodies are read back: for
a sample of the first batch into each folder (its first messages up to 1 MiB, until one was
read; see below for later runs), for every message whose size changed (line endings
converted, a "From " line or a final newline dropped or added, fields injected or re-folded
all change it), for the rewrites that keep the size (NUL bytes; 8-bit header bytes until
the folder's target kept them once) and, once one ordinary message came back changed (not
of a kind servers are known to rewrite), for every message of that folder, the rest of that
batch included.
Bodies are compared as they stream in, one at a time. What is read back whatever the sizes
say (the sample, NUL bytes, all once caught rewriting) is asked in the same write as the
sizes: the same round trip.

What a folder's read-backs learned (a sample came back as sent, a raw 8-bit header was kept)
goes into the state with the folder's marks (`TargetTraits`), and later runs into that folder
start from it: no sample, and no 8-bit header read back. The first body read of new mail cost
Dovecot a rescan of its Maildir on every run (0.17 s of a 10-message delta into 100,000
messages: bench/huge_folder_bench.py). It is forgotten once an ordinary message comes back
changed (the next run samples again) and with the folder's other rows when either
UIDVALIDITY changes. A server that starts rewriting ordinary mail later, keeping its size,
goes unseen here until then; a changed size is still read back on every run.

Classes of change, peeled off in this order (the rest is "other"): from_line, line_endings,
final_newline, eight_bit, headers (fields injected, dropped or re-folded), other; and a
date replaced. Line endings and a final newline leave the text as it was: a warning
(`normalised`); anything else is `altered`, a changed date is `date-changed`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from mailferry.engine.ledger import FolderLedger
from mailferry.imap import FetchItem, ImapSession, uid_set
from mailferry.status import FailureKind
from mailferry.store import NOTHING_LEARNED, TargetTraits

# a run of CRs before LF is one line end (Dovecot drops a CR before CRLF)
_ANY_LINE_END = re.compile(rb"\r*\n|\r")
_EIGHT_BIT = re.compile(rb"[\x80-\xff]")
_FIELD_START = re.compile(rb"\n(?![ \t])")
# A sample of the first batch into a folder is read back to learn whether the server rewrites
# ordinary messages: a few small ones tell that as well as a whole batch of any size, without
# holding a large one twice or reading a batch twice (it was all of it: 17% more bytes read on
# the copy bench); a changed size, a rewrite-prone message or a server caught rewriting
# still reads back any message.
FIRST_BATCH_SAMPLE = 4
FIRST_BATCH_SAMPLE_MAX = 1 << 20
WARNING_CLASSES = frozenset({"line_endings", "final_newline"})
_META = b"(UID RFC822.SIZE INTERNALDATE)"
_BODY = b"(UID BODY.PEEK[])"
_DATE_AND_BODY = b"(UID INTERNALDATE BODY.PEEK[])"
# what an item must carry to answer each: another's (or an unsolicited FETCH) is not taken
def _has_body(item: FetchItem) -> bool:
    return item.body is not None


_HAS: dict[bytes, Callable[[FetchItem], bool]] = {
    _META: lambda item: item.size is not None and item.internaldate is not None,
    _BODY: _has_body,
    _DATE_AND_BODY: _has_body,
}
EXPLAINED = {
    "from_line": "a leading mbox \"From \" line dropped or added",
    "line_endings": "line endings changed (CRLF vs bare LF or CR)",
    "final_newline": "a final line ending added or removed",
    "nul": "NUL bytes replaced",
    "eight_bit": "raw 8-bit bytes in the header replaced",
    "headers": "header fields injected, dropped or re-folded",
    "other": "the text itself changed",
}


@dataclass(frozen=True)
class Appended:
    """One message as we sent it and where the target put it."""

    source_uid: int
    target_uid: int
    body: bytes
    internaldate: str | None


def has_bare_line_ends(body: bytes) -> bool:
    """LF or CR not in CRLF pairs."""
    pairs = body.count(b"\r\n")
    return body.count(b"\n") != pairs or body.count(b"\r") != pairs


def _header_block(body: bytes) -> bytes:
    """The header up to its blank line (CRLF or bare LF), or the first 64 KiB."""
    crlf = body.find(b"\r\n\r\n")
    # a bare-LF blank line counts only before that one: CRLF mail has none, and looking for
    # one through the whole body was a pass over every message appended
    lf = body.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(body))
    ends = [at for at in (crlf, lf) if at >= 0]
    return body[:min(ends)] if ends else body[:65536]


def eight_bit_header(body: bytes) -> bool:
    """Raw 8-bit bytes in the header (RFC 6532 mail): Cyrus replaces them by 'X'."""
    return _EIGHT_BIT.search(_header_block(body)) is not None


def hidden_by_size(body: bytes) -> bool:
    """Kinds of rewrite that leave RFC822.SIZE as it was, so only reading the body back shows
    them: NUL bytes stored as 0x80 (Dovecot); raw 8-bit header bytes replaced by 'X' (Cyrus)
    are asked separately (see ReadBack.check). A server that converts line endings, drops a
    "From " line or a leading blank line, or adds a final newline changes the size, which is
    compared for every message: counting line ends through every body here cost a third of
    the copy's CPU (three passes over each message) and showed nothing the size did not."""
    return b"\x00" in body


def rewrite_prone(body: bytes, *, eight_bit: bool = True) -> bool:
    """Kinds of message servers are known to rewrite on APPEND (`eight_bit=False`: not
    counting an 8-bit header, once the target was seen to keep one)."""
    return (b"\x00" in body or has_bare_line_ends(body)
            or not body.endswith(b"\n") or body.startswith((b"From ", b"\r\n", b" "))
            or (eight_bit and eight_bit_header(body)))


def _header_and_text(lf_text: bytes) -> tuple[bytes, bytes]:
    end = lf_text.find(b"\n\n")
    return (lf_text, b"") if end < 0 else (lf_text[:end + 1], lf_text[end + 1:])


def _fields(head: bytes) -> list[bytes]:
    """Unfolded, whitespace collapsed, names lower-cased: what survives re-folding."""
    found = []
    for field in _FIELD_START.split(head.strip(b"\n")):
        name, _, value = field.partition(b":")
        found.append(name.strip().lower() + b":" + b" ".join(value.split()))
    return found


def rewrite_classes(sent: bytes, stored: bytes) -> list[str]:
    """How `stored` differs from `sent`, by class; [] when they are the same bytes."""
    if sent == stored:
        return []
    classes: list[str] = []
    a, b = sent, stored
    if a.startswith(b"From ") != b.startswith(b"From "):
        classes.append("from_line")
        a, b = (x.split(b"\n", 1)[1] if x.startswith(b"From ") and b"\n" in x else x
                for x in (a, b))
    if set(_ANY_LINE_END.findall(a)) != set(_ANY_LINE_END.findall(b)):
        classes.append("line_endings")
    a, b = _ANY_LINE_END.sub(b"\n", a), _ANY_LINE_END.sub(b"\n", b)
    if a.count(b"\x00") != b.count(b"\x00"):  # Dovecot stores each NUL as 0x80
        classes.append("nul")
        a, b = a.replace(b"\x00", b"\x80"), b.replace(b"\x00", b"\x80")
    if a.rstrip(b"\n") == b.rstrip(b"\n") and a != b:
        return [*classes, "final_newline"]
    if len(a) - len(a.rstrip(b"\n")) != len(b) - len(b.rstrip(b"\n")):
        classes.append("final_newline")
        a, b = a.rstrip(b"\n"), b.rstrip(b"\n")
    (head_a, text_a), (head_b, text_b) = _header_and_text(a), _header_and_text(b)
    if len(_EIGHT_BIT.findall(head_a)) != len(_EIGHT_BIT.findall(head_b)):
        classes.append("eight_bit")
        head_a, head_b = _EIGHT_BIT.sub(b"X", head_a), _EIGHT_BIT.sub(b"X", head_b)
    if head_a != head_b:
        classes.append("headers")
    if text_a != text_b:
        classes.append("other")
    return classes or ["other"]


def _injected_fields(sent: bytes, stored: bytes) -> list[str]:
    """Names of the header fields the target added (for the report's words)."""
    def names(raw: bytes) -> list[bytes]:
        head, _ = _header_and_text(_ANY_LINE_END.sub(b"\n", raw))
        return [f.partition(b":")[0] for f in _fields(head)]
    before = set(names(sent))
    return sorted({n.decode("ascii", "replace") for n in names(stored) if n not in before})


def instant(internaldate: str | None) -> dt.datetime | None:
    if not internaldate:
        return None
    try:
        return dt.datetime.strptime(internaldate.strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def same_instant(sent: str | None, stored: str | None) -> bool:
    """Whether two INTERNALDATEs name the same instant (unknown counts as the same). Most
    servers give back the text they were sent: compared as text first, strptime costs more
    than the rest of the check (two per message appended)."""
    if sent is None or stored is None or sent.strip() == stored.strip():
        return True
    before, after = instant(sent), instant(stored)
    return before is None or after is None or before == after


class ReadBack:
    """One target folder's read-back, batch after batch (see the module's docstring)."""

    def __init__(self, target: ImapSession, mailbox: bytes, ledger: FolderLedger, *,
                 known: TargetTraits = NOTHING_LEARNED) -> None:
        self.target = target
        self.mailbox = mailbox
        self.ledger = ledger
        # what earlier runs learned of this folder's target counts as learned here
        self.first_batch = not known.keeps_ordinary
        self.read_all = False  # an ordinary message came back changed: read back everything
        self.eight_bit_kept = known.keeps_eight_bit  # an 8-bit header came back as sent

    def _stream(self, uids: list[int], items: bytes, *,
                attempts: range = range(3)) -> Iterator[FetchItem]:
        """The items of these UIDs, each once, as they arrive, so a caller can drop each body
        once compared instead of holding a batch's. A server that sent no EXISTS for our
        APPENDs (Courier into its selected mailbox) sees them after a NOOP, or else after a
        new SELECT (`attempts` 1 and 2). An item without what was asked (an unsolicited one)
        is not taken for an answer."""
        complete = _HAS[items]
        seen: set[int] = set()
        for attempt in attempts:
            wanted = [u for u in uids if u not in seen]
            if not wanted:
                return
            if attempt == 1:
                self.target.command(b"NOOP")
            elif attempt == 2:
                self.target.select(self.mailbox, readonly=False)
            asked = set(wanted)
            for item in self.target.uid_fetch(uid_set(wanted), items):
                if item.uid in asked and item.uid not in seen and complete(item):
                    seen.add(item.uid)
                    yield item

    def check(self, appended: Iterable[Appended], *, behind: Callable[[], object] | None = None,
              session: ImapSession | None = None) -> None:
        """Read back a batch appended. `behind` (the next batch's APPEND) is sent right
        after the FETCHes of the first turn, before their answers are read: the sizes and
        dates of the batch, and the bodies read back whatever the sizes say (asked after the
        sizes' answer, they waited for the next batch's too: a round trip and a batch per
        folder over a long link). `session`: the one that appended it, where that is not
        the target's (a held stream's, engine/appender.py): another session would not see
        the new messages before its next sync (Dovecot's UID FETCH answered nothing)."""
        if session is not None and session is not self.target:
            own, self.target = self.target, session
            try:
                return self.check(appended, behind=behind)
            finally:
                self.target = own
        batch = list(appended)
        if not batch:
            if behind is not None:
                behind()
            return
        uids = [a.target_uid for a in batch]
        ahead = self._read_regardless(batch)
        asks = [(uid_set(uids), _META)] + ([(uid_set(list(ahead)), _BODY)] if ahead else [])
        answers = self.target.uid_fetches_sent(asks)
        if behind is not None:
            behind()
        # the first turn's answers come mixed (a server may answer in any order): each item
        # told by what it carries, all read before anything is asked again
        meta: dict[int, FetchItem] = {}
        asked = set(uids)

        def bodies() -> Iterator[FetchItem]:
            for item in answers:
                if item.uid in asked and item.uid not in meta and _HAS[_META](item):
                    meta[item.uid or 0] = item
                if item.uid in ahead and item.body is not None:
                    yield item

        read = self._compare(ahead, bodies())
        if len(meta) < len(uids):  # (a server that shows our APPENDs late: Courier)
            for late in self._stream([u for u in uids if u not in meta], _META,
                                     attempts=range(1, 3)):
                meta[late.uid or 0] = late
        wanted = {u: m for u, m in ahead.items() if u not in read}
        eight_bit_only: dict[int, Appended] = {}
        for message in batch:
            item = meta.get(message.target_uid)
            if item is None:
                self.ledger.fail(message.source_uid, FailureKind.REJECTED,
                                 f"the target gave UID {message.target_uid} for this message "
                                 "but does not hold it", raw=message.body)
                wanted.pop(message.target_uid, None)
                continue
            self._check_date(message, item.internaldate)
            if message.target_uid in ahead:
                continue
            if self.read_all or item.size != len(message.body):
                wanted[message.target_uid] = message
            elif not self.eight_bit_kept and eight_bit_header(message.body):
                eight_bit_only[message.target_uid] = message
        was_reading_all = self.read_all
        self._read_back(wanted)
        if self.read_all and not was_reading_all:
            # a message read caught the server rewriting ordinary messages: the rest of the
            # batch too, since a rewrite can keep the size (imap4d stores "Status: U" as
            # "X-UID: 26", and RFC822.SIZE says nothing)
            self._read_back({m.target_uid: m for m in batch if m.target_uid in meta
                             and m.target_uid not in wanted and m.target_uid not in ahead})
            return
        # 8-bit headers are common (RFC 6532 mail) and most servers keep them: once this
        # folder's target kept one, the others are not read back (Cyrus never keeps them)
        if not self.eight_bit_kept:
            self._read_back(eight_bit_only)

    @property
    def learned(self) -> TargetTraits:
        """What later runs into this folder may take as known (the state keeps it): nothing
        once the server was caught rewriting an ordinary message."""
        if self.read_all:
            return NOTHING_LEARNED
        return TargetTraits(keeps_ordinary=not self.first_batch,
                            keeps_eight_bit=self.eight_bit_kept)

    def _read_regardless(self, batch: list[Appended]) -> dict[int, Appended]:
        """What is read back whatever the target's sizes say: all of it once the server was
        caught rewriting ordinary messages; else a sample of the folder's first batch and the
        rewrites that keep the size (hidden_by_size)."""
        if self.read_all:
            return {m.target_uid: m for m in batch}
        sample = FIRST_BATCH_SAMPLE if self.first_batch else 0
        chosen: dict[int, Appended] = {}
        for message in batch:
            sampled = sample > 0 and len(message.body) <= FIRST_BATCH_SAMPLE_MAX
            sample -= sampled
            if sampled or hidden_by_size(message.body):
                chosen[message.target_uid] = message
        return chosen

    def check_found(self, found: Iterable[Appended]) -> None:
        """Messages the target already held, found only through a rewrite (their robust
        fingerprint: ours from an attempt cut short, or another tool's): every one read back,
        so what the server changed is reported as for a copy."""
        wanted = {a.target_uid: a for a in found}
        for item in self._stream(list(wanted), _DATE_AND_BODY):
            message = wanted.get(item.uid or 0)
            if message is not None and item.body is not None:
                self._check_date(message, item.internaldate)
                self._check_body(message, item.body)

    def _read_back(self, wanted: dict[int, Appended]) -> None:
        self._compare(wanted, self._stream(list(wanted), _BODY))

    def _compare(self, wanted: dict[int, Appended], stored: Iterable[FetchItem]) -> set[int]:
        """Each body as it arrives against what was sent; the UIDs compared."""
        compared: set[int] = set()
        for item in stored:
            if item.uid is not None and item.body is not None and item.uid not in compared:
                self.first_batch = False  # sampled: later batches read back what looks off
                self._check_body(wanted[item.uid], item.body)
                compared.add(item.uid)
        return compared

    def _check_date(self, message: Appended, stored: str | None) -> None:
        if not same_instant(message.internaldate, stored):
            self.ledger.fail(message.source_uid, FailureKind.DATE_CHANGED,
                             f"the target stored the date {stored} for {message.internaldate}",
                             raw=message.body)

    def _check_body(self, message: Appended, stored: bytes) -> None:
        classes = rewrite_classes(message.body, stored)
        if "eight_bit" not in classes and eight_bit_header(message.body):
            self.eight_bit_kept = True
        if not classes:
            return
        if not rewrite_prone(message.body):
            self.read_all = True
        words = "; ".join(EXPLAINED[c] for c in classes)
        injected = _injected_fields(message.body, stored) if "headers" in classes else []
        if injected:
            words += f" (added: {', '.join(injected[:6])})"
        warning = set(classes) <= WARNING_CLASSES
        kind = FailureKind.NORMALISED if warning else FailureKind.ALTERED
        self.ledger.fail(message.source_uid, kind,
                         f"the target stored it changed: {words} [{', '.join(classes)}]",
                         raw=message.body)


__all__ = ["Appended", "ReadBack", "eight_bit_header", "has_bare_line_ends", "rewrite_classes",
           "rewrite_prone"]
