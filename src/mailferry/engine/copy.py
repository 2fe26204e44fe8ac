"""Copy a whole mailbox: plan the folders, then sync them on a few connection pairs at once.

Retries are decided by error class: a dropped connection or a "try again later" reconnects
and resumes the folder after a backoff (its state is committed batch by batch, so resuming
repeats nothing); a refused command fails that folder only and the others go on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mailferry.engine.folders import Folder, FolderPair, folders_from_listing, plan_folders
from mailferry.engine.options import CopyOptions
from mailferry.engine.results import (
    CopySummary,
    FolderResult,
    MessageFailure,
    Reporter,
    SilentReporter,
)
from mailferry.engine.source import MessageSource, SourceOpener, imap_source
from mailferry.engine.sync import FolderSync
from mailferry.errors import ConnectError, MailferryError
from mailferry.imap import (
    Account,
    ImapSession,
    Namespace,
    create_mailbox,
    mailbox_status,
    session_for,
    subscribe_mailbox,
)
from mailferry.store import FolderState, StateStore

log = logging.getLogger("mailferry.copy")


_S = TypeVar("_S", MessageSource, ImapSession)


@dataclass
class _Side(Generic[_S]):
    session: _S
    folders: list[Folder]
    namespace: Namespace


def _survey(session: _S) -> _Side[_S]:
    entries, subscribed, namespace = session.list_folders()
    return _Side(session, folders_from_listing(entries, subscribed, namespace), namespace)


@dataclass
class _Work:
    pair: FolderPair
    expected: int


@dataclass
class _Worker:
    source: SourceOpener
    target: Account
    src: MessageSource | None = None
    tgt: ImapSession | None = None

    def sessions(self) -> tuple[MessageSource, ImapSession]:
        if self.src is None:
            self.src = self.source.open()
        if self.tgt is None:
            self.tgt = session_for(self.target)
        return self.src, self.tgt

    def drop(self) -> None:
        for session in (self.src, self.tgt):
            if session is not None:
                session.close()
        self.src = self.tgt = None

    def logout(self) -> None:
        for session in (self.src, self.tgt):
            if session is not None:
                session.logout()
        self.src = self.tgt = None


@dataclass
class MailboxCopy:
    """Copy one mailbox. `source` is an IMAP account or any other MessageSource opener;
    setting `stop` lets the folders being copied finish and starts no others. `store` may be
    a callable that opens it: it is then called only once both servers let us in, so a bad
    host or password leaves nothing behind."""

    source: Account | SourceOpener
    target: Account
    store: StateStore | Callable[[], StateStore]
    options: CopyOptions = field(default_factory=CopyOptions)
    reporter: Reporter = field(default_factory=SilentReporter)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> CopySummary:
        """Connects first: an unreachable server or refused login raises ConnectError before
        anything is written."""
        started = time.monotonic()
        opener = imap_source(self.source) if isinstance(self.source, Account) else self.source
        self._opener = opener
        summary = CopySummary(opener.name, str(self.target.endpoint),
                              dry_run=self.options.dry_run)
        control = _Worker(opener, self.target)
        try:
            control.sessions()  # a server that refuses us from the start: raise, write nothing
            self._store = self.store if isinstance(self.store, StateStore) else self.store()
            work = self._prepare_with_retries(summary, control)
            # an \All folder goes last, once the label folders' messages are known
            last = [w for w in work if self._unfiled_only(w.pair)]
            self._run_workers([w for w in work if w not in last], summary, control)
            self._run_workers(last, summary, control)
        finally:
            control.logout()
        summary.folders.sort(key=lambda f: f.source)
        summary.seconds = time.monotonic() - started
        return summary

    def _prepare_with_retries(self, summary: CopySummary, control: _Worker) -> list[_Work]:
        """Listing, folder creation and STATUS, again after a dropped connection (each step
        can be repeated: creating an existing folder is not an error)."""
        delay = self.options.backoff
        for attempt in range(self.options.retries + 1):
            try:
                src, tgt = control.sessions()
                return self._prepare(summary, _survey(src), _survey(tgt))
            except MailferryError as exc:
                retryable = exc.retryable or isinstance(exc, ConnectError)
                if not retryable or attempt == self.options.retries:
                    raise
                control.drop()
                summary.folders.clear()  # listed again; folders created so far stay listed
                log.info("preparing: %s; retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.options.backoff_max)
        raise AssertionError("unreachable")

    def _prepare(self, summary: CopySummary, src: _Side[MessageSource],
                 tgt: _Side[ImapSession]) -> list[_Work]:
        plan = plan_folders(src.folders, tgt.folders, tgt.namespace, self.options.filters)
        for excluded in plan.excluded:
            summary.folders.append(FolderResult(excluded.source.display, "", "excluded",
                                                note=excluded.reason))
        target_subscribed = {f.wire for f in tgt.folders if f.subscribed}
        if self.options.dry_run:
            summary.created = [p.target_display for p in plan.to_create]
        else:
            for pair in plan.pairs:
                if not pair.target_exists:
                    create_mailbox(tgt.session, pair.target_wire, subscribe=pair.subscribe)
                    summary.created.append(pair.target_display)
                elif pair.subscribe and pair.target_wire not in target_subscribed:
                    subscribe_mailbox(tgt.session, pair.target_wire)
        pair_id = self._store.pair_id(self._opener.name, str(self.target.endpoint))
        self._pair_id = pair_id
        work: list[_Work] = []
        for pair in plan.pairs:
            if not pair.source.selectable:
                summary.folders.append(FolderResult(pair.source.display, pair.target_display,
                                                    "synced", note="not selectable: created only"))
                continue
            status = src.session.status(pair.source.wire)
            state = self._store.folder(pair_id, pair.source.wire)
            if self._unchanged(state, pair, status, src.session, tgt.session):
                summary.folders.append(FolderResult(pair.source.display, pair.target_display,
                                                    "unchanged", note=pair.note))
                continue
            work.append(_Work(pair, status.get("MESSAGES", 0)))
        work.sort(key=lambda w: -w.expected)  # biggest first: the slowest folder starts early
        self.reporter.planned(len(work), sum(w.expected for w in work), 0)
        return work

    def _unchanged(self, state: FolderState | None, pair: FolderPair, status: dict[str, int],
                   src: MessageSource, tgt: ImapSession) -> bool:
        """One STATUS per side tells a folder nobody touched since the last run. Without
        CONDSTORE a flag change would not show, so such folders are always looked at."""
        if (state is None or not state.complete or self.options.dry_run
                or state.target_name != pair.target_wire or "CONDSTORE" not in src.capabilities
                or (state.src_uidvalidity, state.src_uidnext, state.src_highestmodseq)
                != (status.get("UIDVALIDITY"), status.get("UIDNEXT"), status.get("HIGHESTMODSEQ"))):
            return False
        target = mailbox_status(tgt, pair.target_wire)
        return (state.tgt_uidvalidity, state.tgt_uidnext, state.tgt_messages) == (
            target.get("UIDVALIDITY"), target.get("UIDNEXT"), target.get("MESSAGES"))

    def _unfiled_only(self, pair: FolderPair) -> bool:
        return self.options.all_mail == "unfiled" and pair.source.special_use == "\\All"

    def _run_workers(self, work: list[_Work], summary: CopySummary, control: _Worker) -> None:
        pending: queue.Queue[_Work] = queue.Queue()
        for item in work:
            pending.put(item)
        lock = threading.Lock()

        def loop(worker: _Worker) -> None:
            try:
                while True:
                    if self.stop.is_set():
                        return
                    try:
                        item = pending.get_nowait()
                    except queue.Empty:
                        return
                    result, failures = self._sync_with_retries(worker, item.pair)
                    with lock:
                        summary.folders.append(result)
                        summary.failures.extend(failures)
                    self.reporter.folder_finished(result)
            finally:
                if worker is not control:
                    worker.logout()

        count = max(1, min(self.options.workers, len(work)))
        threads = [threading.Thread(target=loop, args=(control if n == 0 else
                                                       _Worker(self._opener, self.target),),
                                    name=f"folder-worker-{n}", daemon=True) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        while not pending.empty():  # left alone after a stop: a re-run continues here
            item = pending.get_nowait()
            summary.folders.append(FolderResult(item.pair.source.display,
                                                item.pair.target_display, "paused"))
            summary.interrupted = True

    def _sync_with_retries(self, worker: _Worker, pair: FolderPair,
                           ) -> tuple[FolderResult, list[MessageFailure]]:
        result = FolderResult(pair.source.display, pair.target_display, note=pair.note)
        failures: list[MessageFailure] = []
        elsewhere = (self._store.fingerprints_elsewhere(self._pair_id, pair.source.wire)
                     if self._unfiled_only(pair) else frozenset())
        started = time.monotonic()
        try:
            return self._attempts(worker, pair, result, failures, elsewhere)
        finally:
            result.seconds = round(time.monotonic() - started, 3)

    def _attempts(self, worker: _Worker, pair: FolderPair, result: FolderResult,
                  failures: list[MessageFailure], elsewhere: frozenset[str],
                  ) -> tuple[FolderResult, list[MessageFailure]]:
        delay = self.options.backoff
        for attempt in range(self.options.retries + 1):
            sync: FolderSync | None = None
            try:
                src, tgt = worker.sessions()
                sync = FolderSync(src, tgt, self._store, self._pair_id, pair, self.options,
                                  self.reporter, result=result, elsewhere=elsewhere)
                sync.run()
                return result, failures + sync.failures
            except MailferryError as exc:
                if sync is not None:
                    failures.extend(sync.failures)
                worker.drop()
                retryable = exc.retryable or isinstance(exc, ConnectError)
                if not retryable or attempt == self.options.retries:
                    result.status = "failed"
                    result.error = str(exc)
                    log.warning("folder %s failed: %s", pair.source.display, exc)
                    return result, failures
                log.info("folder %s: %s; retrying in %.1fs", pair.source.display, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.options.backoff_max)
        return result, failures
