"""Copy one folder: compare source, target and recorded state, then copy what is missing.

Order of work, each step committed before the next can depend on it:
1. Target inventory: every target UID not known from the state is fingerprinted (BODY[HEADER]).
   These "foreign" messages are leftovers of an APPEND cut short by a crash, mail the relay
   delivered, or another tool's copies. Known target UIDs that vanished free their source
   messages to be copied again.
2. Flags: source flag changes since the last run (CHANGEDSINCE with CONDSTORE) are stored on
   the target copies.
3. The candidates (UIDs from the high-water mark on, plus earlier ones to retry) are matched
   against the foreign pool by the Matcher on their headers alone, so matched messages never
   have their bodies fetched (k source messages with a fingerprint, j in the pool: k-j
   copies). Skipped when the pool is empty: the appender decides then.
4. Bodies stream from the source into bounded batches that the Appender APPENDs in another
   thread while the next batch is read. Each batch's APPENDUIDs are committed at once, so a
   crash repeats nothing: what was appended but not committed is found in step 1 next time.
A folder that only gained mail and flag changes since a finished run (target untouched, source
with CONDSTORE: `delta_applies`) skips the whole-folder reads of steps 1 and 2 and reads the
state rows of the changed messages only (docs/copy-engine.md, "The delta").
Every answer of the source is checked (engine/answers.py): a UID asked for and not returned
exactly once leaves the folder incomplete, retried, with its high-water mark where it was.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from mailferry.engine.answers import AnswerCheck, checked
from mailferry.engine.appender import Appender, PoisonWatch, confirm_relayed, open_streams
from mailferry.engine.fingerprint import body_digest
from mailferry.engine.folders import FolderPair
from mailferry.engine.ledger import FlagFilter, FolderLedger, allowed_flags, flags_key
from mailferry.engine.matcher import Decision, Match, Matcher, MessageKey
from mailferry.engine.options import CopyOptions
from mailferry.engine.parallel import both
from mailferry.engine.readback import Appended, ReadBack
from mailferry.engine.results import FolderResult, MessageFailure, Reporter
from mailferry.engine.source import MessageSource, SourceMessage, flags_asked
from mailferry.engine.target import target_body_digests, target_inventory
from mailferry.engine.twins import retire_copies_with_relayed_twins
from mailferry.errors import IncompleteAnswer, MailferryError
from mailferry.imap import ImapSession, Selected, uid_set
from mailferry.status import FailureKind, FolderStatus, MessageOutcome
from mailferry.store import FailureRecord, FolderState, MappedMessage, TargetTraits

if TYPE_CHECKING:
    from mailferry.store import StateStore

__all__ = ["FolderSync", "allowed_flags", "delta_applies"]


def delta_applies(state: FolderState, src_sel: Selected, tgt_sel: Selected, *,
                  dry_run: bool) -> bool:
    """Whether the folder can be synced from what changed alone (docs/copy-engine.md, "The
    delta"): the last run finished it, neither UIDVALIDITY changed (else `start_folder`
    reset the state), the source tells flag changes (CONDSTORE, a mod-sequence recorded
    and not gone back) and the target is exactly as that run left it: same UIDNEXT (so
    nothing arrived: UIDs only grow) and as many messages (so nothing vanished). Anything
    else (a run cut short after an APPEND, a message another client put in or deleted, a
    server without UIDNEXT on SELECT) takes the whole-folder path."""
    return (not dry_run and state.id != 0 and state.complete
            and state.src_uidnext > 1
            and state.src_uidvalidity == src_sel.uidvalidity
            and state.tgt_uidvalidity == tgt_sel.uidvalidity
            and state.src_highestmodseq is not None and src_sel.highestmodseq is not None
            and src_sel.highestmodseq >= state.src_highestmodseq
            and tgt_sel.uidnext is not None
            and (state.tgt_uidnext, state.tgt_messages) == (tgt_sel.uidnext, tgt_sel.exists))


def _append_limit(capabilities: frozenset[str]) -> int | None:
    """RFC 7889 APPENDLIMIT=n (Gmail: 35 MB), or None when the server does not say."""
    for capability in capabilities:
        name, _, value = capability.partition("=")
        if name == "APPENDLIMIT" and value.isdigit():
            return int(value)
    return None


class FolderSync:
    def __init__(self, source: MessageSource, target: ImapSession, store: StateStore, pair_id: int,
                 pair: FolderPair, options: CopyOptions, reporter: Reporter,
                 result: FolderResult | None = None,
                 elsewhere: frozenset[str] = frozenset(),
                 watch: PoisonWatch | None = None) -> None:
        self.source = source
        self.target = target
        self.store = store
        self.pair_id = pair_id
        self.pair = pair
        self.options = options
        self.reporter = reporter
        # one result across retries of the same folder, so counts add up
        self.result = result or FolderResult(pair.source.display, pair.target_display,
                                             note=pair.note)
        self.matcher = Matcher(options.skip_duplicates, elsewhere)
        self.append_limit = _append_limit(target.capabilities)
        limit = self.append_limit
        self.max_size = min(options.max_message_size, limit if limit is not None else 1 << 62)
        self.ledger: FolderLedger | None = None
        self._target_sizes: dict[int, int] = {}  # RFC822.SIZE of the target's unknown messages
        self._target_uids: list[int] | None = None  # every UID, asked with the SELECT
        self.watch = watch or PoisonWatch()  # shared by the attempts at this folder
        # what the header pass found missing: raised once what did come is copied
        self._gap: IncompleteAnswer | None = None
        self._learned: TargetTraits | None = None  # what the read-back learned (ReadBack)

    @property
    def failures(self) -> list[MessageFailure]:
        return self.ledger.failures if self.ledger is not None else []

    # -- the whole folder ----------------------------------------------------------------

    def run(self) -> FolderResult:
        dry_run = self.options.dry_run
        # a dry run does not create folders: one still to be created is empty
        missing = dry_run and not self.pair.target_exists
        if missing:
            src_sel = self.source.examine(self.pair.source.wire)
            tgt_sel = Selected(0, None, 0, frozenset(), None)
        else:  # both folders open at once: one round trip less per folder over a long link
            src_sel, tgt_sel = both(lambda: self.source.examine(self.pair.source.wire),
                                    self._target_opener(), cleanup=lambda _: None)
        state = self._state(src_sel, tgt_sel)
        ledger = self.ledger = FolderLedger(self.store, state.id, self.result, dry_run=dry_run)
        flags = FlagFilter(tgt_sel.permanent_flags, self.result.keywords_dropped)
        retry, unread = self._earlier_failures(state)
        if delta_applies(state, src_sel, tgt_sel, dry_run=dry_run or missing):
            candidates = self._delta_candidates(state, tgt_sel, retry, unread)
        else:
            candidates = self._whole_folder_candidates(state, tgt_sel, missing, retry, unread)
        high = max(candidates, default=0)
        candidates, left_out = self._by_age_and_size(candidates)
        to_copy, decided = candidates, frozenset[int]()
        if candidates and (len(self.matcher) or dry_run):
            to_copy = self._match_headers(candidates, flags, ledger)
            decided = frozenset(to_copy)
        if to_copy and not dry_run:
            self._copy_bodies(to_copy, decided, flags, ledger)
        if self._gap is not None:
            raise self._gap  # the high-water mark stays: a retry asks again
        if dry_run:
            self.result.status = FolderStatus.PLANNED
            return self.result
        complete = ledger.complete
        mark = max(src_sel.uidnext or 0, high + 1, state.src_uidnext)
        if left_out:  # looked at again next time: the filter may change, mail gets older
            mark = min(mark, min(left_out))
        self.store.finish_folder(
            state, src_uidnext=mark,
            src_highestmodseq=src_sel.highestmodseq,
            tgt_uidnext=max(tgt_sel.uidnext or 0, ledger.max_target_uid + 1),
            tgt_messages=ledger.target_messages, complete=complete,
            traits=self._learned)
        self.result.status = FolderStatus.SYNCED if complete else FolderStatus.FAILED
        return self.result

    def _target_opener(self) -> Callable[[], Selected]:
        readonly = self.options.dry_run
        if not self._whole_folder_ahead():
            return lambda: self.target.select(self.pair.target_wire, readonly=readonly)

        def with_uids() -> Selected:  # the target's UIDs come in the same round trip
            selected, self._target_uids = self.target.select_with_uids(self.pair.target_wire,
                                                                       readonly=readonly)
            return selected

        return with_uids

    def _whole_folder_ahead(self) -> bool:
        """Whether the whole-folder path is certain before the target is selected (no
        finished run recorded for the folder: `delta_applies` would say no), so its every
        UID, which that path asks for, can come with the SELECT. Not asked otherwise: the
        delta does not need them, and a server without ESEARCH lists each one."""
        known = self.store.folder(self.pair_id, self.pair.source.wire)
        return known is None or not known.complete

    def _whole_folder_candidates(self, state: FolderState, tgt_sel: Selected, missing: bool,
                                 retry: set[int], unread: set[int]) -> list[int]:
        """Source UIDs to copy, from the whole folder's state against the whole target
        (steps 1 and 2 of the module's docstring): O(messages in the folder)."""
        mapped = self.store.mapped(state.id) if state.id else {}
        if not missing:
            retry |= self._inventory(state, mapped)
        self.matcher.add_known(m.fingerprint for m in mapped.values())
        if state.src_uidnext > 1 and not self.options.dry_run:
            self._sync_flags(state, tgt_sel, lambda uids: mapped)
        return sorted((retry | set(self.source.uids(state.src_uidnext))) - set(mapped) - unread)

    def _delta_candidates(self, state: FolderState, tgt_sel: Selected, retry: set[int],
                          unread: set[int]) -> list[int]:
        """The same as `_whole_folder_candidates` where `delta_applies`, reading only the
        state rows of the messages that changed: the target is as the last run left it, so
        nothing vanished from it and nothing unknown arrived (its foreign pool is the one
        recorded); the source's flag changes come by CHANGEDSINCE."""
        assert self.ledger is not None
        self.ledger.target_messages = tgt_sel.exists
        # what we append lands above this (and, without UIDPLUS, is looked for above it)
        self.ledger.max_target_uid = (tgt_sel.uidnext or 1) - 1
        for uid, message in sorted(self.store.foreign(state.id).items()):
            self.matcher.add_target(uid, MessageKey(message.fingerprint,
                                                    relayed=message.relayed), message.flags)
        self._sync_flags(state, tgt_sel, lambda uids: self._rows_of(state, uids))
        wanted = (retry | set(self.source.uids(state.src_uidnext))) - unread
        candidates = sorted(wanted - set(self._rows_of(state, wanted)))
        if self.options.skip_duplicates and candidates:
            self.matcher.add_known(self.store.fingerprints_held(
                state.id, self._fingerprints(candidates)))
        return candidates

    def _rows_of(self, state: FolderState, uids: Iterable[int]) -> dict[int, MappedMessage]:
        return {m.src_uid: m for m in self.store.mapped_rows(state.id, uids)}

    def _fingerprints(self, uids: list[int]) -> set[str]:
        """Fingerprints of these source messages, from their headers (what the appender
        computes from their bodies is the same)."""
        return {MessageKey.of(h.header).exact for h in self.source.headers(uids)
                if h.problem is None}

    def _state(self, src_sel: Selected, tgt_sel: Selected) -> FolderState:
        if self.options.dry_run:
            current = self.store.folder(self.pair_id, self.pair.source.wire)
            if current and (current.src_uidvalidity, current.tgt_uidvalidity,
                            current.target_name) == (src_sel.uidvalidity, tgt_sel.uidvalidity,
                                                     self.pair.target_wire):
                return current
            return FolderState(0, self.pair.source.wire, self.pair.target_wire,
                               src_sel.uidvalidity, 1, None, tgt_sel.uidvalidity, False)
        return self.store.start_folder(self.pair_id, self.pair.source.wire, self.pair.target_wire,
                                       src_sel.uidvalidity, tgt_sel.uidvalidity)

    def _earlier_failures(self, state: FolderState) -> tuple[set[int], set[int]]:
        """(UIDs that failed before: try again, UIDs too large for the current limit: not
        read again, only listed again)."""
        known: dict[int, FailureRecord] = self.store.failures(state.id) if state.id else {}
        retry: set[int] = set()
        unread: set[int] = set()
        for uid, record in known.items():
            if record.kind is FailureKind.TOO_LARGE and (record.size is None
                                                         or record.size > self.max_size):
                unread.add(uid)
                assert self.ledger is not None
                self.ledger.fail(uid, record.kind, record.reason, size=record.size,
                                 remember=False)
            else:
                retry.add(uid)
        return retry, unread

    # -- step 1: what the target holds ------------------------------------------------------

    def _inventory(self, state: FolderState, mapped: dict[int, MappedMessage]) -> set[int]:
        """Fill the matcher's pool with unknown target messages; return source UIDs to copy
        again (their copies vanished)."""
        foreign = self.store.foreign(state.id) if state.id else {}
        by_tgt = {m.tgt_uid: m for m in mapped.values() if m.tgt_uid is not None}
        uids, self._target_uids = self._target_uids, None
        present, found, robust, self._target_sizes = target_inventory(
            self.target, set(by_tgt) | set(foreign), uids)
        assert self.ledger is not None
        self.ledger.target_messages = len(present)
        self.ledger.max_target_uid = max(present, default=0)
        vanished = (set(by_tgt) | set(foreign)) - present
        recopy = {by_tgt[uid].src_uid for uid in vanished if uid in by_tgt}
        for src_uid in recopy:
            del mapped[src_uid]
        for uid in vanished & set(foreign):
            del foreign[uid]
        foreign.update(found)
        if not self.options.dry_run and state.id:
            self.store.forget_target_uids(state.id, vanished)
            self.store.add_foreign(state.id, found)
            self.result.relayed_twins += retire_copies_with_relayed_twins(
                self.target, self.store, state.id, mapped, foreign, present)
            self.ledger.target_messages = len(present)
        for uid in sorted(foreign):
            message = foreign[uid]
            self.matcher.add_target(uid, MessageKey(message.fingerprint, relayed=message.relayed,
                                                    robust=robust.get(uid)), message.flags)
        return recopy

    def _by_age_and_size(self, candidates: list[int]) -> tuple[list[int], list[int]]:
        """(kept, left out) by the options' message filter, on the source's INTERNALDATE
        and RFC822.SIZE of each candidate; left-out ones are counted as excluded."""
        rule = self.options.filters.messages
        if not rule.active or not candidates:
            return candidates, []
        left_out = [h.uid for h in self.source.headers(candidates)
                    if h.problem is None and not rule.keeps(h.internaldate, h.size)]
        self.result.excluded = len(left_out)
        dropped = set(left_out)
        return [uid for uid in candidates if uid not in dropped], left_out

    # -- step 2: flag changes ----------------------------------------------------------------

    def _sync_flags(self, state: FolderState, tgt_sel: Selected,
                    rows_of: Callable[[list[int]], dict[int, MappedMessage]]) -> None:
        """`rows_of`: the state rows of (at least) the given source UIDs."""
        changed: dict[str, list[int]] = defaultdict(list)
        new_flags: dict[int, str] = {}
        last, since = flags_asked(state)
        reported = list(self.source.flags(last, changed_since=since))
        mapped = rows_of([uid for uid, _ in reported]) if reported else {}
        for uid, source_flags in reported:
            m = mapped.get(uid)
            if m is None or m.tgt_uid is None:
                continue
            # not counted as dropped again: they were counted when the message was copied
            flags = flags_key(allowed_flags(source_flags, tgt_sel.permanent_flags)[0])
            if flags != m.flags:
                changed[flags].append(m.tgt_uid)
                new_flags[m.src_uid] = flags
        for flags, tgt_uids in changed.items():
            self.target.uid_store_flags(uid_set(tgt_uids), flags.split())
            self.result.flags_updated += len(tgt_uids)
        self.store.update_flags(state.id, new_flags)

    # -- step 3: decide on headers -------------------------------------------------------------

    def _match_headers(self, candidates: list[int], flags: FlagFilter,
                       ledger: FolderLedger) -> list[int]:
        """Decide on headers alone; return the UIDs to copy."""
        seen: list[tuple[int, tuple[str, ...], MessageKey]] = []
        sizes: dict[int, int | None] = {}
        unreadable: list[int] = []  # never matched: the body pass reports them
        check = AnswerCheck(candidates, what="UID FETCH (headers)")
        for header in check.take(self.source.headers(candidates)):
            if header.problem is not None:
                unreadable.append(header.uid)
                continue
            key = MessageKey.of(header.header)
            _ = key.relayed  # computed now, so the header block is not kept
            seen.append((header.uid, header.flags, key))
            sizes[header.uid] = header.size
        self._gap = check.problem()
        matches = self.matcher.match([key for _, _, key in seen])
        relayed = [i for i, m in enumerate(matches) if m.relayed]
        if relayed:
            digests = self._source_digests([seen[i][0] for i in relayed])
            matches = confirm_relayed(self.target, self.matcher, matches,
                                      {i: digests.get(seen[i][0], "") for i in relayed})
        matches = self._settle_shared_headers(seen, matches)
        to_copy: list[int] = []
        rows: list[MappedMessage] = []
        claimed: list[int] = []
        restore: dict[str, list[int]] = defaultdict(list)
        for (uid, source_flags, key), match in zip(seen, matches, strict=True):
            if match.decision is Decision.COPY:
                to_copy.append(uid)
                self.result.to_copy += 1
                if self.options.dry_run:
                    flags.keep(source_flags)  # counted by the appender otherwise
                continue
            kept = flags_key(flags.keep(source_flags))
            if match.decision is Decision.PRESENT:
                assert match.target_uid is not None
                self.result.present += 1
                self.result.present_rewritten += match.rewritten
                claimed.append(match.target_uid)
                if self.matcher.flags_of(match.target_uid) != kept:
                    restore[kept].append(match.target_uid)
            elif match.decision is Decision.ELSEWHERE:
                self.result.in_other_folders += 1
            else:
                self.result.duplicates_skipped += 1
            rows.append(MappedMessage(uid, match.target_uid, key.exact, kept,
                                      MessageOutcome(match.decision), key.relayed))
        if not self.options.dry_run:
            for kept, tgt_uids in restore.items():
                self.target.uid_store_flags(uid_set(tgt_uids), kept.split())
            ledger.record(rows, claimed)
            # found through a rewrite, or with another size: ours from an attempt cut short
            # (or another tool's), changed by the server: read back and report
            self._read_back_rewritten({
                uid: match.target_uid for (uid, _, _), match in zip(seen, matches, strict=True)
                if match.target_uid is not None and match.decision is Decision.PRESENT
                and not match.relayed
                and (match.rewritten or self._target_sizes.get(match.target_uid, sizes[uid])
                     != sizes[uid])}, ledger)
        self.result.to_copy += len(unreadable)
        return sorted(to_copy + unreadable)

    def _read_back_rewritten(self, found: dict[int, int], ledger: FolderLedger) -> None:
        """Source UID -> target UID of messages found through a rewrite: report what the
        server changed (after a MULTIAPPEND cut short, they are our own copies)."""
        if not found:
            return
        uids = sorted(found)
        ReadBack(self.target, self.pair.target_wire, ledger).check_found(
            Appended(m.uid, found[m.uid], m.body, m.internaldate) for m in checked(
                self.source.messages(uids, max_size=self.max_size), uids,
                what="UID FETCH (bodies)") if m.body is not None)

    def _settle_shared_headers(self, seen: list[tuple[int, tuple[str, ...], MessageKey]],
                               matches: list[Match]) -> list[Match]:
        """Source messages that share one header (robust) fingerprint, some found on the
        target and some not: which ones the target holds is told by their bodies, not by
        UID order. (A fresh-state re-run paired the message Cyrus refused, NUL bytes, with
        the copy of another that has the same header, and copied that one again.)"""
        groups: dict[str, list[int]] = defaultdict(list)
        for index, (_, _, key) in enumerate(seen):
            groups[key.robust or key.exact].append(index)
        contested = [group for group in groups.values() if len(group) > 1
                     and {matches[i].decision for i in group} >= {Decision.PRESENT,
                                                                   Decision.COPY}]
        if not contested:
            return matches
        members = [i for group in contested for i in group]
        source = self._source_digests([seen[i][0] for i in members])
        target = target_body_digests(self.target, [
            matches[i].target_uid or 0 for i in members
            if matches[i].decision is Decision.PRESENT])
        settled = list(matches)
        for group in contested:
            copies = [i for i in group if settled[i].decision is Decision.COPY]
            for i in group:
                held = settled[i].target_uid
                if settled[i].decision is not Decision.PRESENT or held not in target:
                    continue
                digest = target[held][0]
                if source.get(seen[i][0]) == digest:
                    continue
                other = next((c for c in copies if source.get(seen[c][0]) == digest), None)
                if other is not None:  # the target's copy is of that one: swap
                    settled[i], settled[other] = settled[other], settled[i]
                    copies.remove(other)
                    copies.append(i)
        return settled

    def _source_digests(self, uids: list[int]) -> dict[int, str]:
        """Body digests of source messages, to confirm relayed pairings."""
        return {m.uid: body_digest(m.body) for m in checked(
            self.source.messages(uids, max_size=self.max_size), uids,
            what="UID FETCH (bodies)") if m.body is not None}

    # -- step 4: stream bodies, append in batches -------------------------------------------

    def _copy_bodies(self, to_copy: list[int], decided: frozenset[int], flags: FlagFilter,
                     ledger: FolderLedger) -> None:
        known = self.store.target_traits(ledger.folder_id)
        streams: list[ImapSession] = []
        later = None
        wanted = self.options.streams_for(len(to_copy))
        if wanted and self._streams_help(to_copy, decided):
            if self.target.measuring_link:
                later = self._later_streams(len(to_copy))
            elif self.target.appends_held():
                streams = open_streams(self.target, self.pair.target_wire, wanted)
        appender = Appender(self.target, self.pair.target_wire, self.matcher, flags, ledger,
                            self.reporter, decided=decided, watch=self.watch, known=known,
                            streams=streams, later_streams=later)
        # one batch read ahead while the previous one is appended: overlap, bounded memory
        thread = threading.Thread(target=appender.run, name="append", daemon=True)
        thread.start()
        too_large: list[SourceMessage] = []
        try:
            for batch in self._batches(to_copy, too_large):
                while thread.is_alive():
                    try:
                        appender.batches.put(batch, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if appender.error is not None:
                    self.source.close()  # abandon the FETCH mid-stream: reconnect on retry
                    break
        finally:
            while thread.is_alive():
                try:
                    appender.batches.put(None, timeout=0.5)
                    break
                except queue.Full:
                    continue
            thread.join()
            learned = appender.read_back.learned
            self._learned = learned if learned != known else None  # (nothing to write)
            self._report_too_large(too_large, ledger)
        if appender.error is not None:
            raise appender.error

    def _streams_help(self, to_copy: list[int], decided: frozenset[int]) -> bool:
        """Whether this folder's batches may go through held streams (engine/appender.py;
        `CopyOptions.streams_for` says whether there are enough): a target that can hold
        them (once the link is measured), and nothing in the target folder to match a
        message against (deciding a batch then asks the target nothing, so it is decided
        before the one before is answered), and no message among them the target may have
        died on (PoisonWatch: those go alone)."""
        return (not self.options.dry_run and not decided and len(self.matcher) == 0
                and not self.watch.one_by_one(to_copy) and self.target.could_hold_appends)

    def _later_streams(self, total: int) -> Callable[[int], list[ImapSession] | None]:
        """`Appender.later_streams` for a folder of `total` messages to copy: while "auto"
        compression still measures the link, the folder starts on its own session (a held
        APPEND would time the link wrong); once the link is measured, compressed or not,
        the rest goes through streams if it is still big enough for them. A far target
        offering COMPRESS so gets them for its first big folder too."""
        def streams(handled: int) -> list[ImapSession] | None:
            if self.target.measuring_link:
                return None
            if not self.target.appends_held():
                return []
            return open_streams(self.target, self.pair.target_wire,
                                self.options.streams_for(total - handled))
        return streams

    def _batches(self, to_copy: list[int], too_large: list[SourceMessage],
                 ) -> Iterator[list[SourceMessage]]:
        check = AnswerCheck(to_copy, what="UID FETCH (bodies)")
        sent, round_trip = 0, self.target.round_trip
        most, most_bytes = self.options.batch_limits(round_trip)
        batch: list[SourceMessage] = []
        size = 0
        for message in check.take(self.source.messages(to_copy, max_size=self.max_size)):
            if message.body is None:  # too large (never read, not retried) or unreadable
                too_large.append(message)
                continue
            batch.append(message)
            size += message.size
            if len(batch) >= most or size >= most_bytes:
                yield batch
                batch, size, sent = [], 0, sent + 1
                most, most_bytes = self.options.batch_limits(round_trip, sent=sent)
        if batch:
            yield batch
        check.finish()

    def _report_too_large(self, messages: list[SourceMessage], ledger: FolderLedger) -> None:
        if not messages:
            return
        headers: dict[int, bytes] = {}
        # their headers name them in the report; without, they are listed by UID
        with contextlib.suppress(MailferryError):
            headers = {h.uid: h.header for h in self.source.headers([m.uid for m in messages])}
        for message in messages:
            if message.problem is not None:
                ledger.fail(message.uid, FailureKind.UNREADABLE, message.problem,
                            raw=headers.get(message.uid, b""), size=message.size)
                continue
            if self.append_limit is not None and message.size > self.append_limit:
                reason = (f"larger ({message.size} bytes) than the target's APPENDLIMIT of "
                          f"{self.append_limit} bytes: not read, not uploaded")
            else:
                reason = (f"larger ({message.size} bytes) than the size limit of "
                          f"{self.options.max_message_size} bytes: not read, not uploaded")
            ledger.fail(message.uid, FailureKind.TOO_LARGE, reason,
                        raw=headers.get(message.uid, b""), size=message.size)
