"""Copy a whole mailbox: plan the folders, then sync them on a few connection pairs at once.

Retries follow the one policy (engine/retry.py), decided by the error's class: a dropped
connection or a "try again later" reconnects and resumes the folder after a backoff (its
state is committed batch by batch, so resuming repeats nothing); a refusal fails that folder
only and the others go on. Every folder ends with a result: an error nobody expected fails
its folder with its message (the traceback goes to the log), never the folder's row.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailferry.engine.folders import Folder, FolderPair, folders_from_listing, plan_folders
from mailferry.engine.hierarchy import TargetFolders
from mailferry.engine.options import CopyOptions
from mailferry.engine.parallel import both
from mailferry.engine.results import (
    CopySummary,
    FolderResult,
    MessageFailure,
    MirrorReport,
    Reporter,
    SilentReporter,
)
from mailferry.engine.source import MessageSource, SourceOpener, flags_asked
from mailferry.errors import MailferryError
from mailferry.imap import (
    Account,
    ImapSession,
    ListEntry,
    Namespace,
    SessionLimits,
    session_for,
)
from mailferry.status import FolderStatus
from mailferry.store import FolderMarks, FolderState

if TYPE_CHECKING:
    from mailferry.store import StateStore

log = logging.getLogger("mailferry.copy")
@dataclass
class SessionPair:
    """One connection to each side, opened on first use (both logins at once) or ahead of
    it (`open_ahead`)."""

    source: SourceOpener
    target: Account
    limits: SessionLimits = field(default_factory=SessionLimits)
    src: MessageSource | None = None
    tgt: ImapSession | None = None
    _opening: threading.Thread | None = field(default=None, repr=False)
    _ahead_error: Exception | None = field(default=None, repr=False)
    examined_ahead: bytes | None = None  # see `examine_ahead`

    def open_ahead(self) -> None:
        """Log in on a thread now, so that `first_login()` finds it done."""
        def login() -> None:
            try:
                self._open()
            except Exception as exc:  # raised by first_login, on the worker's thread
                self._ahead_error = exc

        self._opening = threading.Thread(target=login, name="login-ahead", daemon=True)
        self._opening.start()

    def first_login(self) -> None:
        """A folder worker's one login before it takes a folder: the one begun ahead, whose
        error it raises, or one now. Never retried (see MailboxCopy._logs_in)."""
        self._opened()
        error, self._ahead_error = self._ahead_error, None
        if error is not None:
            raise error
        self._open()

    def _opened(self) -> None:
        """Wait for a login begun by `open_ahead` (whose sessions are then this pair's)."""
        if self._opening is not None:
            self._opening.join()
            self._opening = None

    def sessions(self) -> tuple[MessageSource, ImapSession]:
        self._opened()
        return self._open()

    def _open(self) -> tuple[MessageSource, ImapSession]:
        if self.src is None or self.tgt is None:  # (opened and dropped together)
            # both logins at once: over a long link each side's round trips cost as much as
            # the whole no-change re-run's work, and neither needs the other's
            src, tgt = both(lambda: self.source.open(self.limits),
                            lambda: session_for(self.target, limits=self.limits),
                            cleanup=lambda session: session.close())
            self.src, self.tgt = src, tgt
            return src, tgt
        return self.src, self.tgt

    def examine_ahead(self, mailbox: bytes, *,
                      changed_flags: tuple[int, int] | None = None) -> None:
        """Begin examining a source folder now, and asking its flag changes
        (MessageSource.examine_ahead): the worker on this pair takes that folder first
        (MailboxCopy._run_workers)."""
        src, _ = self.sessions()
        src.examine_ahead(mailbox, changed_flags=changed_flags)
        self.examined_ahead = mailbox

    def capabilities(self) -> dict[str, frozenset[str]]:
        """What each side's server announced after login, by endpoint (an IMAP source's)."""
        found = {str(self.target.endpoint): self.tgt.capabilities} if self.tgt else {}
        source = getattr(self.src, "session", None)
        if isinstance(source, ImapSession):
            found[str(source.endpoint)] = source.capabilities
        return found

    def drop(self) -> None:
        self._opened()
        for session in (self.src, self.tgt):
            if session is not None:
                session.close()
        self.src = self.tgt = None
        self.examined_ahead = None

    def logout(self) -> None:
        self._opened()
        for session in (self.src, self.tgt):
            if session is not None:
                session.logout()
        self.src = self.tgt = None
        self.examined_ahead = None


def connect(source: SourceOpener, target: Account, options: CopyOptions) -> SessionPair:
    """Log in on both sides once, without retrying: a bad host or password raises
    ConnectError before anything is written (the CLI then opens the state store)."""
    pair = SessionPair(source, target, options.session_limits)
    try:
        pair.sessions()
    except BaseException:
        pair.drop()
        raise
    return pair


@dataclass
class _Listing:
    folders: list[Folder]
    namespace: Namespace


def _survey(listing: tuple[list[ListEntry], set[bytes], Namespace]) -> _Listing:
    entries, subscribed, namespace = listing
    return _Listing(folders_from_listing(entries, subscribed, namespace), namespace)


@dataclass
class _Work:
    pair: FolderPair
    expected: int
    expected_bytes: int = 0  # STATUS SIZE where the server offers it, else 0 (unknown)


@dataclass
class MailboxCopy:
    """Copy one mailbox from any MessageSource into an IMAP account, recording in `store`.
    Setting `stop` lets the folders being copied finish and starts no others."""

    source: SourceOpener
    target: Account
    store: StateStore
    options: CopyOptions = field(default_factory=CopyOptions)
    reporter: Reporter = field(default_factory=SilentReporter)
    stop: threading.Event = field(default_factory=threading.Event)
    # the workers' connection pairs, logging in while the folders are prepared (a first copy)
    _ahead: list[SessionPair] = field(default_factory=list, init=False, repr=False)

    def run(self, connected: SessionPair | None = None) -> CopySummary:
        """`connected`: sessions `connect` opened (used and logged out here); without, this
        connects itself, retrying what the policy retries. A refused login raises."""
        started = time.monotonic()
        policy = self.options.retry_policy
        summary = CopySummary(self.source.name, str(self.target.endpoint),
                              dry_run=self.options.dry_run)
        control = connected or SessionPair(self.source, self.target, self.options.session_limits)
        try:
            if connected is None:
                policy.run(control.sessions, what="connecting", stop=self.stop,
                           before_retry=control.drop)
            self._pair_id = self.store.pair_id(self.source.name, str(self.target.endpoint))

            def reset() -> None:  # listed again; folders created so far stay listed
                control.drop()
                summary.folders.clear()

            work = policy.run(lambda: self._prepare(summary, control), what="preparing",
                              stop=self.stop, before_retry=reset)
            if self.options.mirror:  # moves and removals first: the copy then pairs the rest
                self._mirror(summary, control)
            else:
                summary.mirror.note = self.options.mirror_note
            # an \All folder goes last, once the label folders' messages are known
            last = [w for w in work if self._unfiled_only(w.pair)]
            self._run_workers([w for w in work if w not in last], summary, control)
            self._run_workers(last, summary, control)
        finally:
            for pair in [control, *self._ahead]:
                pair.logout()
            self._ahead.clear()
        summary.folders.sort(key=lambda f: f.source)
        summary.seconds = time.monotonic() - started
        return summary

    def _prepare(self, summary: CopySummary, control: SessionPair) -> list[_Work]:
        """Listing, folder creation and STATUS (each step can be repeated: creating an
        existing folder is not an error)."""
        src_session, tgt_session = control.sessions()
        # what the last runs left, read once (one query, not one per folder): nothing
        # recorded is a first copy, whose workers log in while the folders are listed
        recorded = {f.source_name: f for f in self.store.folders_of(self._pair_id)}
        if not recorded:
            self._log_in_ahead(self.options.workers, first_copy=True)
        src, tgt = both(lambda: _survey(src_session.list_folders()),  # one round trip, not two
                        lambda: _survey(tgt_session.list_folders()), cleanup=lambda _: None)
        plan = plan_folders(src.folders, tgt.folders, tgt.namespace, self.options.filters)
        self._scope = (plan.pairs, frozenset(f.wire for f in src.folders))
        states = {p.source.wire: recorded.get(p.source.wire)
                  for p in plan.pairs if p.source.selectable}
        self._log_in_ahead(len(states), first_copy=not any(states.values()))
        for excluded in plan.excluded:
            summary.folders.append(FolderResult(excluded.source.display, "",
                                                FolderStatus.EXCLUDED, note=excluded.reason))
        # every STATUS at once on each side: a fixed number of round trips, not two per folder
        statuses = src_session.statuses(list(states))
        folders = TargetFolders(
            tgt_session, plan.pairs,
            lambda p: statuses.get(p.source.wire, {}).get("MESSAGES", 0),
            subscribed=frozenset(f.wire for f in tgt.folders if f.subscribed),
            hierarchy_only={f.wire for f in tgt.folders if not f.selectable})
        if self.options.dry_run:
            summary.created = [p.target_display for p in plan.to_create]
        else:
            folders.create()
            for pair in folders.created:
                if pair.target_display not in summary.created:
                    summary.created.append(pair.target_display)
        work: list[_Work] = []
        pairs: list[FolderPair] = []
        for pair in plan.pairs:
            if pair.target_wire in folders.unusable:  # that folder fails, not the whole copy
                lost = statuses.get(pair.source.wire, {}).get("MESSAGES", 0)
                summary.folders.append(FolderResult(
                    pair.source.display, pair.target_display, FolderStatus.FAILED,
                    failed=lost, error=folders.unusable[pair.target_wire], note=pair.note))
            elif not pair.source.selectable:
                summary.folders.append(FolderResult(pair.source.display, pair.target_display,
                                                    FolderStatus.SYNCED,
                                                    note="not selectable: created only"))
            else:
                pairs.append(pair)
        candidates = [p.target_wire for p in pairs
                      if _source_unchanged(states[p.source.wire], p, statuses[p.source.wire],
                                           src_session.condstore, self.options)]
        targets = tgt_session.statuses(candidates) if candidates else {}
        for pair in pairs:
            status = statuses[pair.source.wire]
            state = states[pair.source.wire]
            if _unchanged(state, targets.get(pair.target_wire)):
                summary.folders.append(FolderResult(pair.source.display, pair.target_display,
                                                    FolderStatus.UNCHANGED, note=pair.note))
                continue
            work.append(_Work(pair, status.get("MESSAGES", 0), status.get("SIZE", 0)))
        work.sort(key=lambda w: -w.expected)  # biggest first: the slowest folder starts early
        self.reporter.planned(len(work), sum(w.expected for w in work),
                              sum(w.expected_bytes for w in work))
        return work

    def _log_in_ahead(self, folders: int, *, first_copy: bool) -> None:
        """On a first copy every folder is copied: the workers' logins then go out now, not
        after the LIST, CREATE and SUBSCRIBE round trips still to come (over a 50 ms link a
        login is two of them). Where nothing is recorded for the pair they go out before
        the LIST, one per worker (those a mailbox of fewer folders leaves idle log out);
        else once the listing shows no folder recorded. A re-run may copy one folder or
        none: it logs in on demand."""
        if self._ahead or not first_copy:
            return
        self._ahead = [SessionPair(self.source, self.target, self.options.session_limits)
                       for _ in range(min(self.options.workers, folders) - 1)]
        for pair in self._ahead:
            pair.open_ahead()

    def _mirror(self, summary: CopySummary, control: SessionPair) -> None:
        """The mirror pass (engine/mirror.py), with the policy's retries: a retry plans again
        from the state, so what was done is not done twice. A failure fails the pass (exit
        1); the copy goes on."""
        pairs, listed = self._scope
        report = summary.mirror = MirrorReport(enabled=True)

        def attempt() -> None:
            src, tgt = control.sessions()
            from mailferry.engine.mirror import MirrorPass  # see _copy_folder

            MirrorPass(src, tgt, self.store, self._pair_id, pairs, listed, self.options,
                       report).run()

        try:
            self.options.retry_policy.run(attempt, what="mirror pass", stop=self.stop,
                                          before_retry=control.drop)
        except MailferryError as exc:
            control.drop()
            report.error = str(exc)
            log.warning("mirror pass failed: %s", exc)

    def _unfiled_only(self, pair: FolderPair) -> bool:
        return self.options.all_mail == "unfiled" and pair.source.special_use == "\\All"

    def _run_workers(self, work: list[_Work], summary: CopySummary,
                     control: SessionPair) -> None:
        # the folder the control pair's source began to examine is that pair's first
        examined = next((w for w in work if w.pair.source.wire == control.examined_ahead), None)
        control.examined_ahead = None
        pending: queue.Queue[_Work] = queue.Queue()
        for item in work:
            if item is not examined:
                pending.put(item)
        lock = threading.Lock()

        refused: list[str] = []

        def loop(worker: SessionPair, first: _Work | None) -> None:
            try:
                if worker is not control and not self._logs_in(worker, refused, lock):
                    return  # its folders go to the workers that are logged in
                while not self.stop.is_set():
                    item, first = first, None
                    if item is None:
                        try:
                            item = pending.get_nowait()
                        except queue.Empty:
                            return
                    result, failures = self._copy_folder(worker, item.pair)
                    with lock:
                        summary.folders.append(result)
                        summary.failures.extend(failures)
                        summary.interrupted |= result.status == FolderStatus.PAUSED
                    self.reporter.folder_finished(result)
            finally:
                if first is not None:  # stopped before it began: listed as paused below
                    pending.put(first)
                if worker is not control:
                    worker.logout()

        count = max(1, min(self.options.workers, len(work)))
        ahead, self._ahead = self._ahead, []
        for spare in ahead[count - 1:]:
            spare.logout()
        workers = [control, *ahead[:count - 1]]
        workers += [SessionPair(self.source, self.target, self.options.session_limits)
                    for _ in range(count - len(workers))]
        threads = [threading.Thread(target=loop, args=(worker, examined if n == 0 else None),
                                    name=f"folder-worker-{n}", daemon=True)
                   for n, worker in enumerate(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if refused:
            note = (f"{len(refused)} of {count} connection pairs could not log in, so "
                    f"{count - len(refused)} folder(s) ran at once: {refused[0]}")
            log.warning("%s", note)
            summary.notes.append(note)
        while not pending.empty():  # left alone after a stop: a re-run continues here
            item = pending.get_nowait()
            summary.folders.append(FolderResult(item.pair.source.display,
                                                item.pair.target_display, FolderStatus.PAUSED))
            summary.interrupted = True

    @staticmethod
    def _logs_in(worker: SessionPair, refused: list[str], lock: threading.Lock) -> bool:
        """A further worker's login, tried once (ahead, on a first copy) before it takes a
        folder. A server that refuses one more connection (a per-user limit: Dovecot's
        "[LIMIT] Maximum number of connections", Gmail's "Too many simultaneous
        connections") would otherwise fail every folder that worker took ("login refused");
        the first pair is logged in, so the folders are copied, fewer at once. A login lost
        to a passing fault costs the same: one worker fewer, said in the summary's notes."""
        try:
            worker.first_login()
        except Exception as exc:
            if not isinstance(exc, MailferryError):
                log.exception("a folder worker's login failed with an unexpected error")
            worker.drop()
            with lock:
                refused.append(str(exc))
            return False
        return True

    def _copy_folder(self, worker: SessionPair, pair: FolderPair,
                     ) -> tuple[FolderResult, list[MessageFailure]]:
        """One folder, with the policy's retries; always a result."""
        result = FolderResult(pair.source.display, pair.target_display, note=pair.note)
        failures: list[MessageFailure] = []
        started = time.monotonic()
        # loaded on first use: a no-change re-run (unchanged_summary) never needs the copying
        # half of the engine, and importing it cost a third of such a run's time
        from mailferry.engine.appender import PoisonWatch
        from mailferry.engine.sync import FolderSync

        watch = PoisonWatch()  # what one attempt learns about messages the target dies on

        def attempt() -> None:
            src, tgt = worker.sessions()
            sync = FolderSync(src, tgt, self.store, self._pair_id, pair, self.options,
                              self.reporter, result=result, elsewhere=elsewhere, watch=watch)
            try:
                sync.run()
            finally:
                failures.extend(sync.failures)

        try:
            elsewhere = (self.store.fingerprints_elsewhere(self._pair_id, pair.source.wire)
                         if self._unfiled_only(pair) else frozenset())
            self.options.retry_policy.run(attempt, what=f"folder {pair.source.display}",
                                          stop=self.stop, before_retry=worker.drop)
        except MailferryError as exc:
            worker.drop()
            paused = self.stop.is_set() and exc.retryable
            result.status = FolderStatus.PAUSED if paused else FolderStatus.FAILED
            result.error = str(exc)
            log.warning("folder %s failed: %s", pair.source.display, exc)
        except Exception as exc:  # a bug or a fault nobody foresaw: this folder fails, loudly
            worker.drop()
            result.status = FolderStatus.FAILED
            result.error = f"unexpected error: {type(exc).__name__}: {exc}"
            log.exception("folder %s failed with an unexpected error", pair.source.display)
        result.seconds = round(time.monotonic() - started, 3)
        return result, _last_per_message(failures)


def _source_unchanged(state: FolderState | None, pair: FolderPair, status: dict[str, int],
                      condstore: bool, options: CopyOptions) -> bool:
    """The source side of `_unchanged`. Without CONDSTORE a flag change would not show, so
    such folders are always looked at."""
    return not (state is None or not state.complete or options.dry_run
                or state.target_name != pair.target_wire or not condstore
                or (state.src_uidvalidity, state.src_uidnext, state.src_highestmodseq)
                != (status.get("UIDVALIDITY"), status.get("UIDNEXT"), status.get("HIGHESTMODSEQ")))


def _unchanged(state: FolderState | None, target: dict[str, int] | None) -> bool:
    """One STATUS per side tells a folder nobody touched since the last run: `target` is the
    target's, asked only where the source's matched the state (`_source_unchanged`)."""
    return state is not None and target is not None and (
        state.tgt_uidvalidity, state.tgt_uidnext, state.tgt_messages) == (
        target.get("UIDVALIDITY"), target.get("UIDNEXT"), target.get("MESSAGES"))


def unchanged_summary(source: SourceOpener, target: Account, options: CopyOptions,
                      connected: SessionPair, marks: FolderMarks) -> CopySummary | None:
    """The summary of a run that finds, by LIST and STATUS on each side against the marks
    the last run left, that nothing changed: every folder unchanged, none to create or
    subscribe. It writes nothing, so it needs neither the store (nor SQLAlchemy) nor the
    lease. None as soon as anything needs a look or a write: the run then does it all (and
    lists again). The sessions stay open for it."""
    if options.dry_run or options.mirror:
        return None
    started = time.monotonic()
    src_session, tgt_session = connected.sessions()
    # a first look: the listings sent with the logins may serve (taken without the lease,
    # so the run lists again under it when there is work)
    src, tgt = both(lambda: _survey(src_session.list_folders(at_login=True)),
                    lambda: _survey(tgt_session.list_folders(at_login=True)),
                    cleanup=lambda _: None)
    plan = plan_folders(src.folders, tgt.folders, tgt.namespace, options.filters)
    subscribed = {f.wire for f in tgt.folders if f.subscribed}
    hierarchy_only = {f.wire for f in tgt.folders if not f.selectable}
    if any(not p.target_exists or (p.subscribe and p.target_wire not in subscribed)
           or (p.source.selectable and p.target_wire in hierarchy_only) for p in plan.pairs):
        return None  # TargetFolders.create would have work
    summary = CopySummary(source.name, str(target.endpoint))
    summary.mirror.note = options.mirror_note
    summary.folders += [FolderResult(e.source.display, "", FolderStatus.EXCLUDED, note=e.reason)
                        for e in plan.excluded]
    pairs = [p for p in plan.pairs if p.source.selectable]
    statuses = src_session.statuses([p.source.wire for p in pairs])
    changed = [p for p in pairs
               if not _source_unchanged(marks.folder(marks.pair_id, p.source.wire), p,
                                        statuses[p.source.wire], src_session.condstore, options)]
    if changed:
        # the copy will examine these, the biggest first: begin that one now, so the
        # server's catch-up on its new mail (a Maildir rescanned whole) overlaps the loading
        # of the store and the lease (bench/huge_folder_bench.py's delta)
        biggest = max(changed, key=lambda p: statuses[p.source.wire].get("MESSAGES", 0))
        connected.examine_ahead(biggest.source.wire, changed_flags=_flags_since(
            marks.folder(marks.pair_id, biggest.source.wire)))
        return None
    targets = tgt_session.statuses([p.target_wire for p in pairs]) if pairs else {}
    if not all(_unchanged(marks.folder(marks.pair_id, p.source.wire), targets.get(p.target_wire))
               for p in pairs):
        return None
    summary.folders += [
        FolderResult(p.source.display, p.target_display, FolderStatus.UNCHANGED, note=p.note)
        if p.source.selectable else
        FolderResult(p.source.display, p.target_display, FolderStatus.SYNCED,
                     note="not selectable: created only") for p in plan.pairs]
    summary.folders.sort(key=lambda f: f.source)
    summary.seconds = time.monotonic() - started
    return summary


def _flags_since(state: FolderState | None) -> tuple[int, int] | None:
    """The flag changes the copy of a folder copied before asks first (`flags_asked`), to
    be asked ahead: where a mod-sequence is recorded."""
    if state is None:
        return None
    last, since = flags_asked(state)
    return (last, since) if last >= 1 and since is not None else None


def _last_per_message(failures: list[MessageFailure]) -> list[MessageFailure]:
    """A message that failed on several attempts is listed once (its last reason)."""
    latest: dict[tuple[int, str], MessageFailure] = {}
    for failure in failures:
        latest[(failure.uid, failure.kind)] = failure
    return list(latest.values())
