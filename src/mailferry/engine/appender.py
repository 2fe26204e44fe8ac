"""The appender: takes batches of fetched messages, decides (through the matcher) which the
target needs, APPENDs them (MULTIAPPEND where offered) and commits each batch's APPENDUIDs
at once, so a crash repeats nothing. Runs in its own thread while the next batch is read.
"""

from __future__ import annotations

import logging
import queue
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from mailferry.engine.fingerprint import body_digest
from mailferry.engine.ledger import FlagFilter, FolderLedger, flags_key
from mailferry.engine.matcher import Decision, Match, Matcher, MessageKey
from mailferry.engine.readback import Appended, ReadBack, has_bare_line_ends
from mailferry.engine.results import Reporter
from mailferry.engine.source import SourceMessage
from mailferry.engine.target import target_body_digests, target_keys
from mailferry.errors import ConnectionLost, TryAgainLater
from mailferry.imap import AppendMessage, AppendResult, ImapSession, uid_set
from mailferry.status import FailureKind, MessageOutcome
from mailferry.store import MappedMessage

log = logging.getLogger("mailferry.copy")


_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")


LOST = ("the target answered OK to the APPEND but does not hold the message (it has no UIDPLUS,"
        " so it was looked for by its fingerprint after the batch): retried on the next run")


@dataclass
class PoisonWatch:
    """What the attempts at one folder learnt about messages the target dies on (issue 20
    point 6: pymap answers some APPENDs with `* BYE [SERVERBUG]` and drops the connection).
    After a connection lost during an APPEND of several messages, messages go one at a time,
    so the one the server dies on is known: once it killed the connection twice (a network
    cut is not the message's fault) it is reported with the server's words and not sent
    again in this run; the others go on."""

    one_at_a_time: bool = False
    deaths: dict[int, int] = field(default_factory=dict)  # source UID -> connections lost
    poison: dict[int, str] = field(default_factory=dict)  # source UID -> the server's words

    def died_on(self, uid: int, words: str) -> None:
        self.deaths[uid] = self.deaths.get(uid, 0) + 1
        if self.deaths[uid] >= 2:
            self.poison[uid] = words


@dataclass(frozen=True)
class _Outgoing:
    message: SourceMessage
    body: bytes
    key: MessageKey
    flags: list[str]


def confirm_relayed(target: ImapSession, matcher: Matcher, matches: list[Match],
                    source_digests: dict[int, str]) -> list[Match]:
    """Keep the relayed pairings whose bodies are the same; refute the others. Each match's
    source digest is `source_digests[index]`."""
    pending = {i: m for i, m in enumerate(matches) if m.relayed}
    if not pending:
        return matches
    stored = target_body_digests(target, [m.target_uid for m in pending.values()
                                          if m.target_uid is not None])
    confirmed = list(matches)
    for index, match in pending.items():
        digest = stored[match.target_uid][0] if match.target_uid in stored else None
        if digest is None or digest != source_digests.get(index):
            confirmed[index] = matcher.refute(match)
    return confirmed


@dataclass
class Appender:
    target: ImapSession
    mailbox: bytes
    matcher: Matcher
    flags: FlagFilter
    ledger: FolderLedger
    reporter: Reporter
    decided: frozenset[int]  # source UIDs the header pass chose to copy: no decision left
    watch: PoisonWatch = field(default_factory=PoisonWatch)
    # one batch waits while another is appended: overlap with bounded memory
    batches: queue.Queue[list[SourceMessage] | None] = field(
        default_factory=lambda: queue.Queue(maxsize=1))
    error: Exception | None = None

    def __post_init__(self) -> None:
        self.read_back = ReadBack(self.target, self.mailbox, self.ledger)

    def run(self) -> None:
        """The thread's loop: until None arrives; after an error, drain without working."""
        while True:
            batch = self.batches.get()
            if batch is None:
                return
            if self.error is not None:
                continue
            try:
                self.append(batch)
            except Exception as exc:  # handed to the fetching thread, which raises it
                self.error = exc

    def _decide(self, batch: Sequence[SourceMessage], keys: list[MessageKey]) -> list[Match]:
        undecided = [i for i, m in enumerate(batch) if m.uid not in self.decided]
        # the header pass saw BODY[HEADER], where a server may end the header elsewhere than
        # the whole message does (a leading blank line): the pool's rewritten copies once more
        matches = [self.matcher.rewritten_copy(key) if m.uid in self.decided
                   else Match(Decision.COPY) for m, key in zip(batch, keys, strict=True)]
        if undecided:
            found = self.matcher.match([keys[i] for i in undecided])
            digests = {n: body_digest(batch[i].body or b"") for n, i in enumerate(undecided)
                       if found[n].relayed}
            found = confirm_relayed(self.target, self.matcher, found, digests)
            for n, i in enumerate(undecided):
                matches[i] = found[n]
        return matches

    def append(self, batch: list[SourceMessage]) -> None:
        ledger = self.ledger
        keys = [MessageKey.of(m.body or b"") for m in batch]
        rows: list[MappedMessage] = []
        claimed: list[int] = []
        restore: dict[str, list[int]] = defaultdict(list)
        outgoing: list[_Outgoing] = []
        found: list[Appended] = []  # held already, through a rewrite: reported as read back
        dropped: dict[int, list[str]] = {}  # counted once the message is settled, so a
        for message, key, match in zip(batch, keys, self._decide(batch, keys), strict=True):
            flags, dropped[message.uid] = self.flags.split(message.flags)  # retry recounts none
            if match.decision is Decision.COPY and message.uid in self.watch.poison:
                ledger.fail(message.uid, FailureKind.REJECTED, "the target dropped the connection"
                            f" when this message was sent: {self.watch.poison[message.uid]}",
                            raw=message.body or b"")
                continue
            if match.decision is Decision.COPY:
                outgoing.append(_Outgoing(message, message.body or b"", key, flags))
                continue
            if match.decision is Decision.PRESENT:
                assert match.target_uid is not None
                ledger.result.present += 1
                ledger.result.present_rewritten += match.rewritten
                claimed.append(match.target_uid)
                if match.rewritten:
                    found.append(Appended(message.uid, match.target_uid, message.body or b"",
                                          message.internaldate))
                if self.matcher.flags_of(match.target_uid) != flags_key(flags):
                    restore[flags_key(flags)].append(match.target_uid)
            elif match.decision is Decision.ELSEWHERE:
                ledger.result.in_other_folders += 1
            else:
                ledger.result.duplicates_skipped += 1
            rows.append(MappedMessage(message.uid, match.target_uid, key.exact, flags_key(flags),
                                      MessageOutcome(match.decision), key.relayed))
        for flags_text, target_uids in restore.items():
            self.target.uid_store_flags(uid_set(target_uids), flags_text.split())
        self.read_back.check_found(found)
        transient = self._send(outgoing, rows)
        ledger.record(rows, claimed)
        for row in rows:
            self.flags.count(dropped[row.src_uid])
        self.reporter.progress(ledger.result.source, len(batch),
                               sum(len(o.body) for o in outgoing))
        if transient is not None:
            raise transient

    def _send(self, outgoing: list[_Outgoing], rows: list[MappedMessage]) -> TryAgainLater | None:
        """APPEND; rows for what arrived, failures for what was refused; a "try again later"
        (returned) leaves its messages for the retry."""
        if not outgoing:
            return None
        # without UIDPLUS nothing says where (or whether) a message landed: look for it
        confirm = "UIDPLUS" not in self.target.capabilities
        if confirm:  # GNU imap4d keeps one APPEND into the mailbox a session has selected
            self.target.unselect(self.mailbox)
        outcomes = self._append(outgoing)
        transient: TryAgainLater | None = None
        stored: list[tuple[_Outgoing, int | None]] = []
        for out, outcome in zip(outgoing, outcomes, strict=True):
            if outcome.error is None:
                stored.append((out, outcome.uid))
            elif outcome.transient:
                transient = TryAgainLater(f"target asked to try again later: {outcome.error}",
                                          text=outcome.error, command="APPEND",
                                          delay=outcome.delay)
            else:
                self.ledger.fail(out.message.uid, FailureKind.REJECTED, outcome.error,
                                 raw=out.body)
        if confirm:
            self.target.select(self.mailbox, readonly=False)
            stored = self._locate(stored)
        read_back: list[Appended] = []
        for out, uid in stored:
            if confirm and uid is None:
                self.ledger.fail(out.message.uid, FailureKind.REJECTED, LOST, raw=out.body)
                continue
            rows.append(MappedMessage(out.message.uid, uid, out.key.exact, flags_key(out.flags),
                                      MessageOutcome.COPIED, out.key.relayed))
            self.ledger.appended(uid, len(out.body))
            if uid is not None:
                read_back.append(Appended(out.message.uid, uid, out.body,
                                          out.message.internaldate))
        self.read_back.check(read_back)
        return transient

    def _append(self, outgoing: list[_Outgoing]) -> list[AppendResult]:
        """APPEND; a message refused with bare LF or CR in it is offered once more with CRLF
        line endings (Cyrus refuses bare newlines), and reported as normalised if taken."""
        outcomes = self._watched_append(outgoing)
        again = [i for i, (out, outcome) in enumerate(zip(outgoing, outcomes, strict=True))
                 if outcome.error is not None and not outcome.transient
                 and has_bare_line_ends(out.body)]
        if not again:
            return outcomes
        fixed = {i: replace(outgoing[i], body=_ANY_LINE_END.sub(b"\r\n", outgoing[i].body))
                 for i in again}
        retried = self.target.append(self.mailbox, [
            AppendMessage(o.body, tuple(o.flags), o.message.internaldate) for o in fixed.values()])
        for i, outcome in zip(again, retried, strict=True):
            if outcome.error is None:
                self.ledger.fail(outgoing[i].message.uid, FailureKind.NORMALISED,
                                 "the target refused it with bare LF or CR line endings "
                                 f"({outcomes[i].error}): sent with CRLF, text unchanged "
                                 "[line_endings]", raw=outgoing[i].body)
                outgoing[i] = fixed[i]  # what the target holds now: read back against this
                outcomes[i] = outcome
            elif not outcome.transient:
                outcomes[i] = replace(outcome, error=f"{outcome.error} (with CRLF line endings;"
                                      f" as it was: {outcomes[i].error})")
            else:
                outcomes[i] = outcome
        return outcomes

    def _watched_append(self, outgoing: list[_Outgoing]) -> list[AppendResult]:
        """APPEND, watching for a connection lost (see PoisonWatch)."""
        groups = ([[o] for o in outgoing] if self.watch.one_at_a_time else [outgoing])
        outcomes: list[AppendResult] = []
        for group in groups:
            try:
                outcomes += self.target.append(self.mailbox, [
                    AppendMessage(o.body, tuple(o.flags), o.message.internaldate)
                    for o in group])
            except ConnectionLost as exc:
                if len(group) > 1:
                    self.watch.one_at_a_time = True
                else:
                    self.watch.died_on(group[0].message.uid, str(exc))
                raise
        return outcomes

    def _locate(self, stored: list[tuple[_Outgoing, int | None]],
                ) -> list[tuple[_Outgoing, int | None]]:
        """The UID of each appended message, found among the UIDs the folder gained by its
        fingerprint (exact, then robust: the server may have rewritten its header), in
        order; None for a message the folder does not hold."""
        watermark = self.ledger.max_target_uid
        exact: dict[str, list[int]] = defaultdict(list)
        robust: dict[str, list[int]] = defaultdict(list)
        # "n:*" names the last message even when nothing is above n-1
        items = [item for item in self.target.uid_fetch(b"%d:*" % (watermark + 1),
                                                        b"(UID BODY.PEEK[HEADER])")
                 if item.uid is not None and item.uid > watermark and item.header is not None]
        for uid, _flags, key in target_keys(self.target, items):
            exact[key.exact].append(uid)
            if key.robust is not None:
                robust[key.robust].append(uid)
        taken: set[int] = set()

        def take(uids: list[int]) -> int | None:
            for uid in sorted(uids):
                if uid not in taken:
                    taken.add(uid)
                    return uid
            return None

        found: list[int | None] = [take(exact.get(out.key.exact, [])) for out, _ in stored]
        for index, (out, _) in enumerate(stored):
            if found[index] is None and out.key.robust is not None:
                found[index] = take(robust.get(out.key.robust, []))
        return [(out, uid) for (out, _), uid in zip(stored, found, strict=True)]
