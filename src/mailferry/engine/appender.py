"""The appender: takes batches of fetched messages, decides (through the matcher) which the
target needs, APPENDs them (MULTIAPPEND where offered) and commits each batch's APPENDUIDs
at once, so a crash repeats nothing. Runs in its own thread while the next batch is read;
a batch's MULTIAPPEND goes out behind the read-back of the batch before (Appender.append).

Held streams (a big folder into an empty pool, `Appender.streams`): the batches go round
several sessions of their own, each batch sent whole but for its final CRLF while the one
before is stored; that CRLF goes once the one before is answered. The target writes (and
fsyncs) the next batches' files while it commits one, and UIDs still follow the source's
order: a server adds a MULTIAPPEND's messages, and gives them UIDs, only when the command
ends (RFC 3502: all or nothing). One Dovecot took 30,000 small messages in 9.5 s on one
session, 4.9 s on three (bench/huge_folder_bench.py has the copy's figures). A batch
refused for a while ("try again later") or a connection lost drops the batches held behind
it (closing their sessions: never stored) and the retry copies them.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from mailferry.engine.fingerprint import body_digest
from mailferry.engine.ledger import FlagFilter, FolderLedger, flags_key
from mailferry.engine.matcher import Decision, Match, Matcher, MessageKey
from mailferry.engine.readback import Appended, ReadBack, has_bare_line_ends
from mailferry.engine.results import Reporter
from mailferry.engine.source import SourceMessage
from mailferry.engine.target import target_body_digests, target_keys
from mailferry.errors import ConnectionLost, MailferryError, TryAgainLater
from mailferry.imap import AppendMessage, AppendResult, ImapSession, PendingAppend, uid_set
from mailferry.status import FailureKind, MessageOutcome
from mailferry.store import NOTHING_LEARNED, MappedMessage, TargetTraits

log = logging.getLogger("mailferry.copy")


_ANY_LINE_END = re.compile(rb"\r\n|\r|\n")


LOST = ("the target answered OK to the APPEND but does not hold the message (it has no UIDPLUS,"
        " so it was looked for by its fingerprint after the batch): retried on the next run")


@dataclass
class PoisonWatch:
    """What the attempts at one folder learnt about messages the target dies on (issue 20
    point 6: pymap answers some APPENDs with `* BYE [SERVERBUG]` and drops the connection).
    After a connection lost during an APPEND of several messages, the messages that were in
    flight (`suspects`) go one at a time, so the one the server dies on is known: once it
    killed the connection twice (a network cut is not the message's fault) it is reported
    with the server's words and not sent again in this run; the others go on, in batches
    again after the suspects (before, every message after a lost connection went alone: a
    network blip into a folder of 100,000 left the rest a round trip each)."""

    suspects: set[int] = field(default_factory=set)  # source UIDs in flight at a lost connection
    deaths: dict[int, int] = field(default_factory=dict)  # source UID -> connections lost
    poison: dict[int, str] = field(default_factory=dict)  # source UID -> the server's words

    def suspect(self, uids: Iterable[int]) -> None:
        self.suspects.update(uids)

    def one_by_one(self, uids: Iterable[int]) -> bool:
        """Whether any of these messages is to go alone."""
        return any(uid in self.suspects for uid in uids)

    def died_on(self, uid: int, words: str) -> None:
        self.deaths[uid] = self.deaths.get(uid, 0) + 1
        if self.deaths[uid] >= 2:
            self.poison[uid] = words


# held streams open at once in this process: each is one more connection to the target, which
# may count them per user (Dovecot's mail_max_userip_connections is 10 by default)
STREAMS_AT_ONCE = 3
_STREAM_SLOTS = threading.BoundedSemaphore(STREAMS_AT_ONCE)


def open_streams(target: ImapSession, mailbox: bytes, count: int) -> list[ImapSession]:
    """Up to `count` more sessions like `target`'s, logged in at once, `mailbox` selected: an
    Appender's held streams. Fewer where this process holds its share of them already or
    the server refuses more connections; none where fewer than two would open (one stream
    is the ordinary way with one more login)."""
    slots = 0
    while count >= 2 and slots < count and _STREAM_SLOTS.acquire(blocking=False):
        slots += 1
    opened: list[ImapSession | None] = [None] * slots

    def open_one(index: int) -> None:
        session = None
        try:
            session = target.sibling()
            session.select(mailbox, readonly=False)
        except MailferryError as exc:  # (a refused login: a per-user connection limit)
            log.debug("no held stream: %s", exc)
            if session is not None:
                session.close()
            return
        opened[index] = session

    threads = [threading.Thread(target=open_one, args=(i,), name="stream-login", daemon=True)
               for i in range(slots)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    streams = [s for s in opened if s is not None]
    if len(streams) < 2:
        for session in streams:
            session.logout()
        streams = []
    for _ in range(slots - len(streams)):
        _STREAM_SLOTS.release()
    return streams


@dataclass(frozen=True)
class _Outgoing:
    message: SourceMessage
    body: bytes
    key: MessageKey
    flags: list[str]

    def to_append(self) -> AppendMessage:
        return AppendMessage(self.body, tuple(self.flags), self.message.internaldate)


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
class _Batch:
    """One batch from its decision to its record."""

    size: int  # source messages in it
    rows: list[MappedMessage]  # settled: recorded with the batch
    claimed: list[int]
    outgoing: list[_Outgoing]
    dropped: dict[int, list[str]]  # keywords the target refuses, counted once recorded
    counts: Counter[str]  # the result's counters, added once recorded (a retry recounts)
    pending: PendingAppend | None = None  # its MULTIAPPEND, while the answer is not read
    session: ImapSession | None = None  # a held stream's (None: the target's)


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
    known: TargetTraits = NOTHING_LEARNED  # what earlier runs' read-backs learned (ReadBack)
    # held streams (module docstring; `open_streams`): with them, every batch goes through
    # them; the matcher's pool is empty, so deciding a batch asks nothing of the target
    streams: list[ImapSession] = field(default_factory=list)
    # where streams wait for "auto" compression to measure the link (ImapSession.
    # measuring_link): asked before each batch with the messages handled so far, it gives
    # the streams to go on with, or None to be asked again (`_streams_now`)
    later_streams: Callable[[int], list[ImapSession] | None] | None = None
    _handled: int = 0  # source messages in the batches taken so far
    _unanswered: set[int] = field(default_factory=set)  # source UIDs sent, their APPEND unanswered
    _flights: deque[_Batch] = field(default_factory=deque)  # held streams': oldest first

    def __post_init__(self) -> None:
        self._slots = len(self.streams)  # given back by close_streams
        self.read_back = ReadBack(self.target, self.mailbox, self.ledger, known=self.known)

    def run(self) -> None:
        """The thread's loop: until None arrives; after an error, drain without working."""
        flight: _Batch | None = None  # appended, its answer not read yet
        while True:
            batch = self.batches.get()
            if self.error is None:
                try:
                    if batch is not None:
                        flight = self.append(batch, flight)
                    elif flight is not None:
                        self._land(flight, self._answer(flight), then=None)
                    while batch is None and self._flights:
                        self._land_first()
                except Exception as exc:  # handed to the fetching thread, which raises it
                    if isinstance(exc, ConnectionLost):
                        self.watch.suspect(self._unanswered)  # see _watched_append
                    self.error = exc
                    self._drop_held()
            if batch is None:
                self.close_streams()
                return

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

    def append(self, batch: list[SourceMessage], flight: _Batch | None = None,
               ) -> _Batch | None:
        """Decide and append one batch. `flight`, the batch before (what the last call
        returned), is read back and recorded with this one's APPEND sent behind the read-back's
        first FETCH: the target stores this batch while that one is checked and recorded, and
        waits for us only while the answer is read and this batch decided (a huge folder's
        copy waited ~20% of its time between batches: issue 16). Returns this batch while its
        APPEND is in flight; None once it is recorded."""
        # what needs no target: computed while it stores the batch in flight
        keys = [MessageKey.of(m.body or b"") for m in batch]
        flight = self._streams_now(flight)
        self._handled += len(batch)
        if self.streams:
            self._append_held(self._prepare(batch, keys))
            return None
        outcomes = self._answer(flight) if flight is not None else []
        if flight is not None and any(outcome.transient for outcome in outcomes):
            # raised once `flight` is recorded: this batch waits for the retry, undecided
            # (a decision checks and reports messages the target holds: not twice)
            return self._land(flight, outcomes, then=None)
        decided = self._prepare(batch, keys)
        if flight is None:
            return self._launch(decided)
        return self._land(flight, outcomes, then=decided)

    def _streams_now(self, flight: _Batch | None) -> _Batch | None:
        """Held streams opened mid-folder (`later_streams`), once the link is measured: the
        batch in flight on the target's session is recorded first, so the batches after it
        keep their order. Returns what is still in flight (None once streams opened)."""
        if self.later_streams is None or self.streams:
            return flight
        opened = self.later_streams(self._handled)
        if opened is None:
            return flight
        self.later_streams = None
        self.streams, self._slots = opened, len(opened)  # (closed by close_streams, as ever)
        if opened and flight is not None:
            return self._land(flight, self._answer(flight), then=None)
        return flight

    def _prepare(self, batch: list[SourceMessage], keys: list[MessageKey]) -> _Batch:
        """Each message's decision: what to APPEND, what is settled already (rows)."""
        ledger = self.ledger
        prepared = _Batch(len(batch), [], [], [], {}, Counter())
        restore: dict[str, list[int]] = defaultdict(list)
        found: list[Appended] = []  # held already, through a rewrite: reported as read back
        for message, key, match in zip(batch, keys, self._decide(batch, keys), strict=True):
            flags, prepared.dropped[message.uid] = self.flags.split(message.flags)
            if match.decision is Decision.COPY and message.uid in self.watch.poison:
                ledger.fail(message.uid, FailureKind.REJECTED, "the target dropped the connection"
                            f" when this message was sent: {self.watch.poison[message.uid]}",
                            raw=message.body or b"")
                continue
            if match.decision is Decision.COPY:
                prepared.outgoing.append(_Outgoing(message, message.body or b"", key, flags))
                continue
            if match.decision is Decision.PRESENT:
                assert match.target_uid is not None
                prepared.counts["present"] += 1
                prepared.counts["present_rewritten"] += match.rewritten
                prepared.claimed.append(match.target_uid)
                if match.rewritten:
                    found.append(Appended(message.uid, match.target_uid, message.body or b"",
                                          message.internaldate))
                if self.matcher.flags_of(match.target_uid) != flags_key(flags):
                    restore[flags_key(flags)].append(match.target_uid)
            elif match.decision is Decision.ELSEWHERE:
                prepared.counts["in_other_folders"] += 1
            else:
                prepared.counts["duplicates_skipped"] += 1
            prepared.rows.append(MappedMessage(message.uid, match.target_uid, key.exact,
                                               flags_key(flags), MessageOutcome(match.decision),
                                               key.relayed))
        for flags_text, target_uids in restore.items():
            self.target.uid_store_flags(uid_set(target_uids), flags_text.split())
        self.read_back.check_found(found)
        return prepared

    def _pipelined(self, prepared: _Batch) -> bool:
        """Whether the batch's APPEND can be sent behind another command (UIDPLUS says where
        each message went without looking; one message at a time after a connection lost)."""
        return (not self.watch.one_by_one(o.message.uid for o in prepared.outgoing)
                and "UIDPLUS" in self.target.capabilities
                and self.target.appends_behind(len(prepared.outgoing)))

    def _begin(self, prepared: _Batch) -> None:
        prepared.pending = self.target.append_begin(
            self.mailbox, [o.to_append() for o in prepared.outgoing])
        self._unanswered.update(o.message.uid for o in prepared.outgoing)

    def _answer(self, flight: _Batch) -> list[AppendResult]:
        assert flight.pending is not None
        session = flight.session or self.target
        outcomes = session.append_end(flight.pending)
        for out in flight.outgoing:
            self._unanswered.discard(out.message.uid)
        return self._line_ends_again(flight.outgoing, outcomes, session)

    # -- held streams (module docstring) ---------------------------------------------------

    def _append_held(self, prepared: _Batch) -> None:
        """Send a batch on the stream the oldest batch in flight frees, held while any is in
        flight; landed in order by _land_first."""
        if len(self._flights) >= len(self.streams) or not prepared.outgoing:
            self._land_first()
        if not prepared.outgoing:  # (its rows follow those of every batch before)
            while self._flights:
                self._land_first()
            self._land(prepared, [], then=None)
            return
        busy = [flight.session for flight in self._flights]
        session = next(s for s in self.streams if all(s is not b for b in busy))
        prepared.session = session
        prepared.pending = session.append_begin(
            self.mailbox, [o.to_append() for o in prepared.outgoing], hold=bool(self._flights))
        self._unanswered.update(o.message.uid for o in prepared.outgoing)
        self._flights.append(prepared)

    def _land_first(self) -> None:
        """The oldest batch in flight: its answer read, the next one's held CRLF sent (the
        target stores it while this one is read back), then read back and recorded."""
        if not self._flights:
            return
        first = self._flights.popleft()
        outcomes = self._answer(first)  # (a message refused alone is retried before the next)
        if any(outcome.transient for outcome in outcomes):
            self._drop_held()  # their messages wait for the retry, as the next batch does
        elif self._flights:
            after = self._flights[0]
            assert after.session is not None and after.pending is not None
            after.session.append_release(after.pending)
        self._land(first, outcomes, then=None, session=first.session)

    def _drop_held(self) -> None:
        """After an error: the batches held behind are dropped with their sessions (a server
        stores nothing of an APPEND cut short); one sent whole may be stored, as after a
        crash: the retry finds it in the target."""
        for flight in self._flights:
            if flight.session is not None:
                flight.session.close()  # (its logout in close_streams is then a no-op)
        self._flights.clear()

    def close_streams(self) -> None:
        """Log the held streams out (each held APPEND dropped) and give their slots back."""
        for session in self.streams:
            session.logout()
        for _ in range(self._slots):
            _STREAM_SLOTS.release()
        self.streams, self._slots = [], 0

    def _launch(self, prepared: _Batch) -> _Batch | None:
        """Send the batch's APPEND and return it in flight; or, where it cannot wait, append
        it now and record it (None)."""
        if self._pipelined(prepared):
            self._begin(prepared)
            return prepared
        # without UIDPLUS nothing says where (or whether) a message landed: _land looks
        # (GNU imap4d keeps one APPEND into the mailbox a session has selected)
        if "UIDPLUS" not in self.target.capabilities and prepared.outgoing:
            self.target.unselect(self.mailbox)
        return self._land(prepared, self._append(prepared.outgoing), then=None)

    def _land(self, landed: _Batch, outcomes: list[AppendResult], *, then: _Batch | None,
              session: ImapSession | None = None) -> _Batch | None:
        """A batch's APPEND answered: rows for what arrived, failures for what was refused,
        read back, recorded; a "try again later" is raised once the rest is recorded. `then`
        (the next batch) goes behind the read-back's first FETCH where it can; returned if
        it is in flight."""
        transient: TryAgainLater | None = None
        stored: list[tuple[_Outgoing, int | None]] = []
        for out, outcome in zip(landed.outgoing, outcomes, strict=True):
            if outcome.error is None:
                stored.append((out, outcome.uid))
            elif outcome.transient:
                transient = TryAgainLater(f"target asked to try again later: {outcome.error}",
                                          text=outcome.error, command="APPEND",
                                          delay=outcome.delay)
            else:
                self.ledger.fail(out.message.uid, FailureKind.REJECTED, outcome.error,
                                 raw=out.body)
        confirm = "UIDPLUS" not in self.target.capabilities
        if confirm and landed.outgoing:
            self.target.select(self.mailbox, readonly=False)
            stored = self._locate(stored)
        read_back: list[Appended] = []
        for out, uid in stored:
            if confirm and uid is None:
                self.ledger.fail(out.message.uid, FailureKind.REJECTED, LOST, raw=out.body)
                continue
            landed.rows.append(MappedMessage(out.message.uid, uid, out.key.exact,
                                             flags_key(out.flags), MessageOutcome.COPIED,
                                             out.key.relayed))
            self.ledger.appended(uid, len(out.body))
            if uid is not None:
                read_back.append(Appended(out.message.uid, uid, out.body,
                                          out.message.internaldate))
        ahead = then if then is not None and self._pipelined(then) else None
        self.read_back.check(read_back, behind=None if ahead is None
                             else lambda: self._begin(ahead), session=session)
        self._record(landed)
        if transient is not None:
            assert then is None  # (see append)
            raise transient
        if then is not None and ahead is None:
            return self._launch(then)
        return ahead

    def _record(self, landed: _Batch) -> None:
        self.ledger.record(landed.rows, landed.claimed)
        result = self.ledger.result
        for name, count in landed.counts.items():  # FolderResult's counters, by name
            setattr(result, name, getattr(result, name) + count)
        for row in landed.rows:
            self.flags.count(landed.dropped[row.src_uid])
        self.reporter.progress(result.source, landed.size,
                               sum(len(o.body) for o in landed.outgoing))

    def _append(self, outgoing: list[_Outgoing]) -> list[AppendResult]:
        """APPEND now, and again with CRLF what was refused for its line endings."""
        return self._line_ends_again(outgoing, self._watched_append(outgoing), self.target)

    def _line_ends_again(self, outgoing: list[_Outgoing], outcomes: list[AppendResult],
                         session: ImapSession | None = None) -> list[AppendResult]:
        """A message refused with bare LF or CR in it is offered once more with CRLF line
        endings (Cyrus refuses bare newlines), and reported as normalised if taken."""
        again = [i for i, (out, outcome) in enumerate(zip(outgoing, outcomes, strict=True))
                 if outcome.error is not None and not outcome.transient
                 and has_bare_line_ends(out.body)]
        if not again:
            return outcomes
        fixed = {i: replace(outgoing[i], body=_ANY_LINE_END.sub(b"\r\n", outgoing[i].body))
                 for i in again}
        retried = (session or self.target).append(self.mailbox,
                                                  [o.to_append() for o in fixed.values()])
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
        groups = ([[o] for o in outgoing]
                  if self.watch.one_by_one(o.message.uid for o in outgoing) else [outgoing])
        outcomes: list[AppendResult] = []
        for group in groups:
            try:
                outcomes += self.target.append(self.mailbox, [o.to_append() for o in group])
            except ConnectionLost as exc:
                if len(group) > 1:
                    self.watch.suspect(o.message.uid for o in group)
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
