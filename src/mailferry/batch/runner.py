"""Copy many mailboxes at once: lanes take mailboxes from a queue, each mailbox is one
engine `MailboxCopy` on the shared state store.

- Connection caps: `Concurrency` says how many lanes and how many workers per mailbox.
- Retries: none here. The engine's one retry policy (engine/retry.py, from [sync] retries and
  backoff) already retried what is worth retrying, by the error's class; a refused login
  costs one attempt. Anything else (even an error nobody expected) fails that mailbox only.
- Stop (Ctrl-C, SIGTERM): each mailbox in progress finishes its current folders and
  pauses; no new mailbox starts. Nothing is lost: a re-run continues.
- Maintenance windows: outside a window no new mailbox starts; when a window closes the
  mailboxes in progress pause as on a stop. With `wait_for_window` the lanes sleep until
  the next window opens and then continue (paused mailboxes first).
- Leases: a mailbox is copied only under the lease on its target mailbox (store.leases), so
  two runs (or two lanes) never write one mailbox at once. A mailbox another run holds is
  skipped ("in progress elsewhere", exit 1), or with `wait_for_lease` tried again after the
  others; one of this run's own lanes holds it: it waits its turn. A lease lost mid-copy
  stops that mailbox at once (the IMAP session refuses every further write).
- Paused waves (`ProjectState.set_wave_paused`, from the dashboard): looked up every second;
  none of their mailboxes start, those in progress pause as on a stop.
- Progress: what the engine reports is written to the project state every few seconds
  (batch.progress), for live views.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mailferry.batch.limits import Concurrency
from mailferry.batch.progress import ProgressTracker
from mailferry.batch.schedule import WindowSchedule
from mailferry.engine import (
    CopyOptions,
    CopySummary,
    FolderResult,
    MailboxCopy,
    Reporter,
    imap_source,
)
from mailferry.errors import MailboxBusy, MailferryError
from mailferry.imap import Account
from mailferry.project import MailboxUser
from mailferry.status import FolderStatus, MailboxStatus
from mailferry.store import (
    HeldLease,
    LeaseHolder,
    LeaseTimes,
    PassOutcome,
    ProjectState,
    StateStore,
    mailbox_lease_key,
)

log = logging.getLogger("mailferry.batch")
_TICK = 0.2  # seconds between looks at the stop event and the window
_PAUSE_LOOK = 1.0  # seconds between looks at the paused waves in the state


@dataclass(frozen=True)
class MailboxJob:
    user: MailboxUser
    urls: tuple[str, str]  # imap://user@host:port of each side, for the state
    accounts: Callable[[], tuple[Account, Account]]  # built per pass: tokens stay fresh
    options: CopyOptions  # its retry policy is the only one


class BatchReporter(Protocol):
    """Progress of a batch; called from lane threads."""

    def batch_planned(self, mailboxes: int) -> None: ...

    def mailbox_started(self, user: MailboxUser) -> Reporter: ...

    def mailbox_finished(self, user: MailboxUser, outcome: PassOutcome) -> None: ...

    def mailbox_busy(self, user: MailboxUser, holder: str, *, waiting: bool) -> None:
        """Another run holds the lease on its target mailbox: skipped, or (once) waiting."""

    def waiting_for_window(self, opens_at: str) -> None: ...


@dataclass
class BatchResult:
    outcomes: dict[str, PassOutcome] = field(default_factory=dict)  # by source user
    not_started: list[str] = field(default_factory=list)
    next_window: str | None = None  # ISO time, when mailboxes wait for a window
    interrupted: bool = False
    busy: dict[str, str] = field(default_factory=dict)  # in progress elsewhere: user -> holder

    @property
    def exit_status(self) -> int:
        done = all(o.status == MailboxStatus.SYNCED for o in self.outcomes.values())
        return 0 if (done and not self.not_started and not self.interrupted
                     and not self.busy) else 1


@dataclass
class BatchRunner:
    store: StateStore
    state: ProjectState
    concurrency: Concurrency
    schedule: WindowSchedule
    reporter: BatchReporter
    stop: threading.Event = field(default_factory=threading.Event)
    wait_for_window: bool = False
    lease_times: LeaseTimes = field(default_factory=LeaseTimes)
    wait_for_lease: bool = False

    def run(self, jobs: list[MailboxJob]) -> BatchResult:
        self._queue = collections.deque(jobs)
        self._lock = threading.Lock()
        self._active: dict[str, tuple[threading.Event, HeldLease]] = {}
        self._leased_elsewhere: list[tuple[float, MailboxJob]] = []  # (try again at, job)
        self._waited: set[str] = set()
        self._holder = LeaseHolder.this_process()
        self._wave_of = {job.user.source_user: job.user.wave for job in jobs}
        self._held: list[MailboxJob] = []  # their wave is paused: not started
        self._result = BatchResult()
        self._tracker = ProgressTracker(self.state)
        self._paused_waves = self.state.paused_waves()
        self.reporter.batch_planned(len(jobs))
        lanes = [threading.Thread(target=self._lane, name=f"mailbox-lane-{n}", daemon=True)
                 for n in range(min(self.concurrency.mailboxes, len(jobs)))]
        for lane in lanes:
            lane.start()
        looked = time.monotonic()
        while any(lane.is_alive() for lane in lanes):
            if self.stop.is_set() or not self.schedule.is_open():
                self._pause_active()
            self._pause_lost()
            if time.monotonic() - looked >= _PAUSE_LOOK:
                looked = time.monotonic()
                self._pause_waves(self.state.paused_waves())
            self._tracker.tick()
            time.sleep(_TICK)
        self._tracker.tick(force=True)
        result = self._result
        result.not_started = [job.user.source_user for job in [*self._held, *self._queue]] + [
            job.user.source_user for _, job in self._leased_elsewhere]
        result.interrupted = self.stop.is_set() or any(
            o.status == MailboxStatus.PAUSED for o in result.outcomes.values())
        if result.not_started and not self.schedule.is_open():
            result.next_window = self.schedule.next_open().isoformat(timespec="minutes")
        return result

    def _pause_active(self) -> None:
        with self._lock:
            for pause, _ in self._active.values():
                pause.set()

    def _pause_lost(self) -> None:
        """A mailbox whose lease was lost starts no further folder (writes already stop)."""
        with self._lock:
            for pause, lease in self._active.values():
                if lease.lost.is_set():
                    pause.set()

    def _pause_waves(self, paused: frozenset[str]) -> None:
        with self._lock:
            self._paused_waves = paused
            for user, (pause, _) in self._active.items():
                if self._wave_of.get(user) in paused:
                    pause.set()

    def _next_job(self) -> MailboxJob | None:
        """The next mailbox, once a window is open; None when done or stopping. Mailboxes
        leased elsewhere come back once the others are done, every second or so."""
        while not self.stop.is_set():
            if not self.schedule.is_open():
                if not self.wait_for_window:
                    return None
                opens = self.schedule.next_open().isoformat(timespec="minutes")
                self.reporter.waiting_for_window(opens)
                self.stop.wait(min(max(self.schedule.seconds_until_open(), _TICK), 60.0))
                continue
            with self._lock:
                while self._queue:
                    job = self._queue.popleft()
                    if job.user.wave not in self._paused_waves:
                        return job
                    self._held.append(job)  # its wave is paused: not started
                if not self._leased_elsewhere:
                    return None
                self._leased_elsewhere.sort(key=lambda waiting: waiting[0])
                if self._leased_elsewhere[0][0] <= time.monotonic():
                    return self._leased_elsewhere.pop(0)[1]
            self.stop.wait(_TICK)
        return None

    def _lane(self) -> None:
        while (job := self._next_job()) is not None:
            lease = self._lease(job)
            if lease is None:
                continue
            with lease:
                outcome = self._run_mailbox(job, lease)
            with self._lock:
                self._result.outcomes[job.user.source_user] = outcome
                if (outcome.status == MailboxStatus.PAUSED and self.wait_for_window
                        and not self.stop.is_set()):
                    self._queue.appendleft(job)  # a window closed: resume in the next one
            self.reporter.mailbox_finished(job.user, outcome)

    def _lease(self, job: MailboxJob) -> HeldLease | None:
        """The lease on the job's target mailbox, or None: skipped or put back to wait."""
        try:
            return self.store.leases.acquire(mailbox_lease_key(job.urls[1]),
                                             times=self.lease_times, holder=self._holder)
        except MailboxBusy as busy:
            user = job.user.source_user
            if self.wait_for_lease or busy.same_run:
                with self._lock:
                    self._leased_elsewhere.append(
                        (time.monotonic() + min(1.0, self.lease_times.heartbeat), job))
                    first = user not in self._waited
                    self._waited.add(user)
                if first and not busy.same_run:
                    self.reporter.mailbox_busy(job.user, str(busy), waiting=True)
                return None
            with self._lock:
                self._result.busy[user] = busy.holder
            self.reporter.mailbox_busy(job.user, str(busy), waiting=False)
            return None

    def _run_mailbox(self, job: MailboxJob, lease: HeldLease) -> PassOutcome:
        pause = threading.Event()
        with self._lock:
            self._active[job.user.source_user] = (pause, lease)
        try:
            return self._pass(_guarded(job, lease), pause, lease)
        finally:
            with self._lock:
                del self._active[job.user.source_user]

    def _pass(self, job: MailboxJob, pause: threading.Event, lease: HeldLease) -> PassOutcome:
        """One pass over a mailbox; the engine retried inside it what its policy retries."""
        user = job.user
        started = time.monotonic()
        engine_reporter = _PauseAtFolderEnd(
            self._tracker.watch(user.source_user, self.reporter.mailbox_started(user)),
            pause, self.schedule)
        self.state.start(source_user=user.source_user, target_user=user.target_user,
                         wave=user.wave, department=user.department,
                         source=job.urls[0], target=job.urls[1])
        summary: CopySummary | None = None
        error: str | None = None
        try:
            source, target = job.accounts()
            summary = MailboxCopy(imap_source(source), target, self.store, job.options,
                                  engine_reporter, stop=pause).run()
        except MailferryError as exc:  # unreachable, login refused, token command failed
            error = str(exc)
            log.warning("mailbox %s: %s", user.source_user, exc)
        except Exception as exc:  # a fault nobody foresaw: this mailbox fails, the lane goes on
            error = f"unexpected error: {type(exc).__name__}: {exc}"
            log.exception("mailbox %s failed with an unexpected error", user.source_user)
        outcome = _outcome(summary, error, pause.is_set(), time.monotonic() - started)
        try:
            lease.check()
        except MailferryError as lost:  # the mailbox's row belongs to the new holder now
            return dataclasses.replace(outcome, status=MailboxStatus.FAILED, error=str(lost))
        self.state.finish(user.source_user, outcome)
        self._tracker.finished(user.source_user)
        return outcome


class _PauseAtFolderEnd:
    """Passes the engine's events on; a folder that ends after the window closed pauses the
    mailbox at once. The runner's own look comes up to a tick later, by when a mailbox of
    small folders may have started (and run) all the others past the window's end."""

    def __init__(self, inner: Reporter, pause: threading.Event,
                 schedule: WindowSchedule) -> None:
        self.inner = inner
        self.pause = pause
        self.schedule = schedule

    def planned(self, folders: int, messages: int, size: int) -> None:
        self.inner.planned(folders, messages, size)

    def progress(self, folder: str, messages: int, size: int) -> None:
        self.inner.progress(folder, messages, size)

    def folder_finished(self, result: FolderResult) -> None:
        self.inner.folder_finished(result)
        if not self.schedule.is_open():
            self.pause.set()


def _guarded(job: MailboxJob, lease: HeldLease) -> MailboxJob:
    """The job with every target session refusing to write once the lease is gone."""
    def accounts() -> tuple[Account, Account]:
        source, target = job.accounts()
        return source, dataclasses.replace(target, write_guard=lease)

    return dataclasses.replace(job, accounts=accounts)


def _folder_errors(summary: CopySummary) -> str:
    return "; ".join(f"{f.source}: {f.error}" for f in summary.folders
                     if f.status == FolderStatus.FAILED)


def _outcome(summary: CopySummary | None, error: str | None, paused: bool,
             seconds: float) -> PassOutcome:
    if summary is None:  # the pass did not get going; a stop meanwhile leaves it paused
        status = MailboxStatus.PAUSED if paused else MailboxStatus.FAILED
        return PassOutcome(status, 0, 0, 0, seconds, error, [], [])
    data = summary.to_json()
    if summary.interrupted:
        status = MailboxStatus.PAUSED
    elif summary.ok:
        status = MailboxStatus.SYNCED
    else:
        status = MailboxStatus.FAILED
        mirror = summary.mirror
        error = (_folder_errors(summary) or mirror.stopped or mirror.error
                 or f"{len(summary.failures)} messages failed")
    return PassOutcome(status, summary.total("copied"), summary.total("bytes"),
                       len(summary.failures), seconds,
                       None if status == MailboxStatus.SYNCED else error, data["folders"],
                       data["failures"], data["mirror"])
