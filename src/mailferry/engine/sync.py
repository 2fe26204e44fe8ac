"""Copy one folder: compare source, target and recorded state, then copy what is missing.

Order of work, each step committed before the next can depend on it:
1. Target inventory: every target UID not known from the state is fingerprinted (BODY[HEADER]).
   These "foreign" messages are leftovers of an APPEND cut short by a crash, mail the relay
   delivered, or another tool's copies. Known target UIDs that vanished free their source
   messages to be copied again.
2. Flags: source flag changes since the last run (CHANGEDSINCE with CONDSTORE) are stored on
   the target copies.
3. New source messages are matched as a multiset against the foreign pool by fingerprint:
   if the source holds k messages with a fingerprint and the pool j, exactly k-j are appended.
4. Bodies stream from the source (one UID FETCH, BODY.PEEK) into bounded batches that another
   thread APPENDs (MULTIAPPEND where offered) while the next batch is read. Each batch's
   APPENDUIDs are committed at once, so a crash repeats nothing: what was appended but not
   committed is found in step 1 of the next run.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mailferry.engine.fingerprint import fingerprint, message_id, subject
from mailferry.engine.folders import FolderPair
from mailferry.engine.options import CopyOptions
from mailferry.engine.results import FolderResult, MessageFailure, Reporter
from mailferry.engine.source import MessageSource
from mailferry.errors import CommandFailed, MailferryError, Scope
from mailferry.imap import AppendMessage, FetchItem, ImapSession, Selected, uid_set
from mailferry.store import FolderState, MappedMessage, StateStore

SYSTEM_FLAGS = {"\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft"}
_ATOM_SPECIALS = set('(){ %*"\\]') | {chr(c) for c in range(0x20)} | {chr(0x7F)}
HEADER_FETCH_CHUNK = 500


def flags_key(flags: Iterable[str]) -> str:
    return " ".join(sorted({f for f in flags if f.lower() != "\\recent"}, key=str.lower))


@dataclass
class _Pool:
    """Target messages not yet claimed by a source message, by fingerprint (a multiset)."""

    by_fp: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    flags: dict[int, str] = field(default_factory=dict)

    def add(self, tgt_uid: int, fp: str, flags: str) -> None:
        self.by_fp[fp].append(tgt_uid)
        self.flags[tgt_uid] = flags

    def claim(self, fp: str) -> int | None:
        uids = self.by_fp.get(fp)
        return uids.pop(0) if uids else None

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_fp.values())


class FolderSync:
    def __init__(self, source: MessageSource, target: ImapSession, store: StateStore, pair_id: int,
                 pair: FolderPair, options: CopyOptions, reporter: Reporter,
                 result: FolderResult | None = None,
                 elsewhere: frozenset[str] = frozenset()) -> None:
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
        self.failures: list[MessageFailure] = []
        self._seen: set[str] = set()  # fingerprints already in the target folder (dedupe)
        self._pool = _Pool()
        self._elsewhere = elsewhere  # fingerprints other folders hold (for a \All folder)
        self._retry: set[int] = set()  # source UIDs below UIDNEXT to copy (again)
        self._decided: set[int] = set()  # source UIDs the header pass chose to copy
        self.append_limit = _append_limit(target.capabilities)
        self._tgt_messages = 0  # how many messages the target folder holds, as we go
        self._max_tgt_uid = 0

    # -- the whole folder ----------------------------------------------------------------

    def run(self) -> FolderResult:
        src_sel = self.source.select(self.pair.source.wire, readonly=True)
        # a dry run does not create folders: one still to be created is empty
        missing = self.options.dry_run and not self.pair.target_exists
        tgt_sel = (Selected(0, None, 0, frozenset(), None) if missing else
                   self.target.select(self.pair.target_wire, readonly=self.options.dry_run))
        state = self._state(src_sel, tgt_sel)
        mapped = self.store.mapped(state.id) if state.id else {}
        foreign = self.store.foreign(state.id) if state.id else {}
        retry = set(self.store.failures(state.id)) if state.id else set()
        if not missing:
            retry |= self._inventory(state, mapped, foreign)
        self._retry = retry - set(mapped)
        for m in mapped.values():
            self._seen.add(m.fingerprint)
        for tgt_uid, (fp, flags) in foreign.items():
            self._pool.add(tgt_uid, fp, flags)
            self._seen.add(fp)
        if state.src_uidnext > 1 and not self.options.dry_run:
            self._sync_flags(state, mapped, tgt_sel)
        spec: bytes | None = self._candidates(state.src_uidnext, self._retry)
        max_uid = state.src_uidnext - 1
        if spec is not None and (len(self._pool) or self.options.dry_run):
            spec, max_uid = self._match_headers(state, spec, mapped, tgt_sel)
        if spec is not None and not self.options.dry_run:
            max_uid = max(max_uid, self._copy_bodies(state, spec, mapped, tgt_sel))
        if self.options.dry_run:
            self.result.status = "planned"
            return self.result
        uidnext = max(src_sel.uidnext or 0, max_uid + 1, state.src_uidnext)
        complete = all(f.kind != "rejected" for f in self.failures)
        self.store.finish_folder(
            state, src_uidnext=uidnext, src_highestmodseq=src_sel.highestmodseq,
            tgt_uidnext=max(tgt_sel.uidnext or 0, self._max_tgt_uid + 1),
            tgt_messages=self._tgt_messages, complete=complete)
        self.result.status = "synced" if complete else "failed"
        return self.result

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

    # -- step 1: what the target holds ------------------------------------------------------

    def _inventory(self, state: FolderState, mapped: dict[int, MappedMessage],
                   foreign: dict[int, tuple[str, str]]) -> set[int]:
        """Fingerprint unknown target messages into `foreign`; return source UIDs to copy again."""
        present = set(self.target.uid_search_all())
        self._tgt_messages = len(present)
        self._max_tgt_uid = max(present, default=0)
        by_tgt = {m.tgt_uid: m for m in mapped.values() if m.tgt_uid is not None}
        vanished = (set(by_tgt) | set(foreign)) - present
        recopy = {by_tgt[uid].src_uid for uid in vanished if uid in by_tgt}
        for src_uid in recopy:
            del mapped[src_uid]
        for uid in vanished & set(foreign):
            del foreign[uid]
        unknown = sorted(present - set(by_tgt) - set(foreign))
        found: dict[int, tuple[str, str]] = {}
        for start in range(0, len(unknown), HEADER_FETCH_CHUNK):
            chunk = unknown[start:start + HEADER_FETCH_CHUNK]
            for item in self.target.uid_fetch(uid_set(chunk), b"(UID FLAGS BODY.PEEK[HEADER])"):
                assert item.uid is not None
                found[item.uid] = (fingerprint(item.header or b""), flags_key(item.flags or ()))
        foreign.update(found)
        if not self.options.dry_run and state.id:
            self.store.forget_target_uids(state.id, vanished)
            self.store.add_foreign(state.id, found)
        return recopy

    # -- step 2: flag changes ----------------------------------------------------------------

    def _sync_flags(self, state: FolderState, mapped: dict[int, MappedMessage],
                    tgt_sel: Selected) -> None:
        since = state.src_highestmodseq if "CONDSTORE" in self.source.capabilities else None
        changed: dict[str, list[int]] = defaultdict(list)
        new_flags: dict[int, str] = {}
        for item in self.source.uid_fetch(b"1:%d" % (state.src_uidnext - 1), b"(UID FLAGS)",
                                          changedsince=since):
            m = mapped.get(item.uid or 0)
            if m is None or m.tgt_uid is None:
                continue
            # not counted as dropped again: they were counted when the message was copied
            flags = flags_key(allowed_flags(item.flags or (), tgt_sel.permanent_flags)[0])
            if flags != m.flags:
                changed[flags].append(m.tgt_uid)
                new_flags[m.src_uid] = flags
        for flags, tgt_uids in changed.items():
            self.target.uid_store_flags(uid_set(tgt_uids), flags.split())
            self.result.flags_updated += len(tgt_uids)
        self.store.update_flags(state.id, new_flags)

    # -- step 3: which source messages need copying --------------------------------------------

    @staticmethod
    def _candidates(uidnext: int, retry: set[int]) -> bytes:
        spec = b"%d:*" % uidnext
        return uid_set(retry) + b"," + spec if retry else spec

    def _decide(self, fp: str) -> tuple[str, int | None]:
        r"""copy, present (claims a target message), elsewhere (an \All folder's message
        that a label folder already brought) or duplicate (--skip-duplicates)."""
        claimed = self._pool.claim(fp)
        if claimed is not None:
            return "present", claimed
        if fp in self._elsewhere:
            return "elsewhere", None
        if self.options.skip_duplicates and fp in self._seen:
            return "duplicate", None
        self._seen.add(fp)
        return "copy", None

    def _count_skip(self, decision: str) -> None:
        if decision == "elsewhere":
            self.result.in_other_folders += 1
        else:
            self.result.duplicates_skipped += 1

    def _wanted(self, item: FetchItem, state: FolderState,
                mapped: dict[int, MappedMessage]) -> bool:
        uid = item.uid or 0
        # "N:*" also returns the highest UID when N is above it: hence the uidnext test
        return uid not in mapped and (uid >= state.src_uidnext or uid in self._retry)

    def _match_headers(self, state: FolderState, spec: bytes, mapped: dict[int, MappedMessage],
                       tgt_sel: Selected) -> tuple[bytes | None, int]:
        """Decide on headers alone, so matched messages never have their bodies fetched."""
        to_copy: list[int] = []
        rows: list[MappedMessage] = []
        claimed: list[int] = []
        restore: dict[str, list[int]] = defaultdict(list)
        max_uid = state.src_uidnext - 1
        for item in self.source.uid_fetch(spec, b"(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])"):
            if not self._wanted(item, state, mapped):
                continue
            assert item.uid is not None
            max_uid = max(max_uid, item.uid)
            fp = fingerprint(item.header or b"")
            decision, tgt_uid = self._decide(fp)
            flags = flags_key(self._allowed_flags(item.flags or (), tgt_sel))
            if decision == "copy":
                to_copy.append(item.uid)
                self._decided.add(item.uid)
                self.result.to_copy += 1
                continue
            if decision == "present":
                assert tgt_uid is not None
                self.result.present += 1
                claimed.append(tgt_uid)
                if self._pool.flags.get(tgt_uid) != flags:
                    restore[flags].append(tgt_uid)
            else:
                self._count_skip(decision)
            rows.append(MappedMessage(item.uid, tgt_uid, fp, flags, decision))
        if not self.options.dry_run:
            for flags, tgt_uids in restore.items():
                self.target.uid_store_flags(uid_set(tgt_uids), flags.split())
            self.store.record(state.id, rows, claimed)
        return (uid_set(to_copy) if to_copy else None), max_uid

    # -- step 4: stream bodies, append in batches -------------------------------------------

    def _copy_bodies(self, state: FolderState, spec: bytes, mapped: dict[int, MappedMessage],
                     tgt_sel: Selected) -> int:
        # one batch read ahead while the previous one is appended: overlap, bounded memory
        batches: queue.Queue[list[FetchItem] | None] = queue.Queue(maxsize=1)
        appender = _Appender(self, state, tgt_sel, batches)
        thread = threading.Thread(target=appender.run, name="append", daemon=True)
        thread.start()
        max_uid = state.src_uidnext - 1
        try:
            for batch in self._batches(spec, state, mapped):
                max_uid = max(max_uid, max(item.uid or 0 for item in batch))
                while thread.is_alive():
                    try:
                        batches.put(batch, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if appender.error is not None:
                    self.source.close()  # abandon the FETCH mid-stream: reconnect on retry
                    break
        finally:
            while thread.is_alive():
                try:
                    batches.put(None, timeout=0.5)
                    break
                except queue.Full:
                    continue
            thread.join()
        if appender.error is not None:
            raise appender.error
        return max_uid

    def _batches(self, spec: bytes, state: FolderState, mapped: dict[int, MappedMessage],
                 ) -> Iterator[list[FetchItem]]:
        batch: list[FetchItem] = []
        size = 0
        for item in self.source.uid_fetch(spec, b"(UID FLAGS INTERNALDATE BODY.PEEK[])"):
            if not self._wanted(item, state, mapped):
                continue
            batch.append(item)
            size += len(item.body or b"")
            if len(batch) >= self.options.batch_messages or size >= self.options.batch_bytes:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _allowed_flags(self, flags: Iterable[str], tgt_sel: Selected) -> list[str]:
        allowed, dropped = allowed_flags(flags, tgt_sel.permanent_flags)
        self.result.keywords_dropped.update(dropped)
        return allowed


def allowed_flags(flags: Iterable[str], permanent: Iterable[str]) -> tuple[list[str], list[str]]:
    """(flags the target keeps, keywords it would refuse). Refused keywords are counted, not
    sent: one refused keyword would fail the whole APPEND ($NotJunk, $Label1 on some servers).
    An empty PERMANENTFLAGS means the server did not say: then everything is tried."""
    permanent_lower = {f.lower() for f in permanent}
    any_keyword = not permanent_lower or "\\*" in permanent_lower
    allowed: list[str] = []
    dropped: list[str] = []
    for flag in flags:
        low = flag.lower()
        if low == "\\recent":
            continue
        if low in SYSTEM_FLAGS:
            allowed.append(flag)
        elif flag.startswith("\\") or any(c in _ATOM_SPECIALS for c in flag):
            dropped.append(flag)
        elif any_keyword or low in permanent_lower:
            allowed.append(flag)
        else:
            dropped.append(flag)
    return allowed, dropped


def _append_limit(capabilities: frozenset[str]) -> int | None:
    """RFC 7889 APPENDLIMIT=n (Gmail: 35 MB), or None when the server does not say."""
    for capability in capabilities:
        name, _, value = capability.partition("=")
        if name == "APPENDLIMIT" and value.isdigit():
            return int(value)
    return None


class _Appender:
    """Consumes batches of fetched messages: decide, APPEND, commit. Runs in its own thread."""

    def __init__(self, sync: FolderSync, state: FolderState, tgt_sel: Selected,
                 batches: queue.Queue[list[FetchItem] | None]) -> None:
        self.sync = sync
        self.state = state
        self.tgt_sel = tgt_sel
        self.batches = batches
        self.error: MailferryError | None = None

    def run(self) -> None:
        while True:
            batch = self.batches.get()
            if batch is None:
                return
            if self.error is not None:
                continue  # drain
            try:
                self._append(batch)
            except MailferryError as exc:
                self.error = exc
            except Exception as exc:
                self.error = MailferryError(f"unexpected error while appending: {exc!r}")

    def _append(self, batch: list[FetchItem]) -> None:
        sync, result = self.sync, self.sync.result
        rows: list[MappedMessage] = []
        claimed: list[int] = []
        to_send: list[tuple[FetchItem, str, list[str]]] = []
        limit = sync.append_limit
        for item in batch:
            body = item.body or b""
            if limit is not None and len(body) > limit:  # don't upload what will be refused
                self._fail(item, "rejected", f"larger ({len(body)} bytes) than the target's"
                           f" APPENDLIMIT of {limit} bytes")
                continue
            fp = fingerprint(body)
            decision, tgt_uid = (("copy", None) if item.uid in sync._decided
                                 else sync._decide(fp))
            flags = sync._allowed_flags(item.flags or (), self.tgt_sel)
            assert item.uid is not None
            if decision == "copy":
                to_send.append((item, fp, flags))
                continue
            if decision == "present":
                assert tgt_uid is not None
                result.present += 1
                claimed.append(tgt_uid)
                if sync._pool.flags.get(tgt_uid) != flags_key(flags):
                    sync.target.uid_store_flags(b"%d" % tgt_uid, flags)
            else:
                sync._count_skip(decision)
            rows.append(MappedMessage(item.uid, tgt_uid, fp, flags_key(flags), decision))
        outcomes = sync.target.append(sync.pair.target_wire, [
            AppendMessage(item.body or b"", tuple(flags), item.internaldate)
            for item, _, flags in to_send]) if to_send else []
        transient: str | None = None
        sent_bytes = 0
        read_back: dict[int, FetchItem] = {}
        for (item, fp, flags), outcome in zip(to_send, outcomes, strict=True):
            assert item.uid is not None
            body = item.body or b""
            if outcome.error is not None:
                if outcome.transient:
                    transient = outcome.error
                    continue
                self._fail(item, "rejected", outcome.error)
                continue
            rows.append(MappedMessage(item.uid, outcome.uid, fp, flags_key(flags), "copied"))
            result.copied += 1
            sync._tgt_messages += 1
            sync._max_tgt_uid = max(sync._max_tgt_uid, outcome.uid or 0)
            sent_bytes += len(body)
            if outcome.uid is not None and may_be_rewritten(body):
                read_back[outcome.uid] = item
        if read_back:
            self._check_stored(read_back)
        result.bytes += sent_bytes
        sync.store.record(self.state.id, rows, claimed)
        sync.reporter.progress(result.source, len(batch), sent_bytes)
        if transient is not None:
            raise CommandFailed(f"target asked to try again later: {transient}", text=transient,
                                command="APPEND", retryable=True, scope=Scope.FOLDER)

    def _fail(self, item: FetchItem, kind: str, reason: str) -> None:
        body = item.body or b""
        assert item.uid is not None
        self.sync.failures.append(MessageFailure(
            self.sync.result.source, item.uid, kind, reason, message_id(body), subject(body),
            len(body)))
        if kind == "rejected":
            self.sync.result.failed += 1
        self.sync.store.record_failure(self.state.id, item.uid, kind, reason)

    def _check_stored(self, appended: dict[int, FetchItem]) -> None:
        """Read back the messages a server may have rewritten and say what it did."""
        for back in self.sync.target.uid_fetch(uid_set(appended), b"(UID BODY.PEEK[])"):
            item = appended.get(back.uid or 0)
            if item is None:
                continue
            body, stored = item.body or b"", back.body or b""
            if hashlib.sha256(stored).digest() == hashlib.sha256(body).digest():
                continue
            if _LINE_END.sub(b"\n", stored) == _LINE_END.sub(b"\n", body):
                self._fail(item, "normalised", "the target stored the line endings as CRLF, as"
                           " IMAP requires (the source had bare LF or CR); text unchanged")
            else:
                self._fail(item, "altered", "the target stored different bytes (NUL or bare CR"
                           " in the message, which the target server rewrites)")


_LINE_END = re.compile(rb"\r\n|\r|\n")


def may_be_rewritten(body: bytes) -> bool:
    """NUL bytes, or CR/LF not in CRLF pairs: servers rewrite these on APPEND (Dovecot turns
    NUL into 0x80, bare LF into CRLF and drops a CR before CRLF)."""
    pairs = body.count(b"\r\n")
    return b"\x00" in body or body.count(b"\n") != pairs or body.count(b"\r") != pairs
