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
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mailferry.batch.limits import Concurrency
from mailferry.batch.schedule import WindowSchedule
from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, Reporter, imap_source
from mailferry.errors import MailferryError
from mailferry.imap import Account
from mailferry.project.users import MailboxUser
from mailferry.status import FolderStatus, MailboxStatus
from mailferry.store import StateStore
from mailferry.store.project_state import PassOutcome, ProjectState

log = logging.getLogger("mailferry.batch")
_TICK = 0.2  # seconds between looks at the stop event and the window


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

    def waiting_for_window(self, opens_at: str) -> None: ...


@dataclass
class BatchResult:
    outcomes: dict[str, PassOutcome] = field(default_factory=dict)  # by source user
    not_started: list[str] = field(default_factory=list)
    next_window: str | None = None  # ISO time, when mailboxes wait for a window
    interrupted: bool = False

    @property
    def exit_status(self) -> int:
        done = all(o.status == MailboxStatus.SYNCED for o in self.outcomes.values())
        return 0 if done and not self.not_started and not self.interrupted else 1


@dataclass
class BatchRunner:
    store: StateStore
    state: ProjectState
    concurrency: Concurrency
    schedule: WindowSchedule
    reporter: BatchReporter
    stop: threading.Event = field(default_factory=threading.Event)
    wait_for_window: bool = False

    def run(self, jobs: list[MailboxJob]) -> BatchResult:
        self._queue = collections.deque(jobs)
        self._lock = threading.Lock()
        self._active: dict[str, threading.Event] = {}
        self._result = BatchResult()
        self.reporter.batch_planned(len(jobs))
        lanes = [threading.Thread(target=self._lane, name=f"mailbox-lane-{n}", daemon=True)
                 for n in range(min(self.concurrency.mailboxes, len(jobs)))]
        for lane in lanes:
            lane.start()
        while any(lane.is_alive() for lane in lanes):
            if self.stop.is_set() or not self.schedule.is_open():
                self._pause_active()
            time.sleep(_TICK)
        result = self._result
        result.not_started = [job.user.source_user for job in self._queue]
        result.interrupted = self.stop.is_set() or any(
            o.status == MailboxStatus.PAUSED for o in result.outcomes.values())
        if result.not_started and not self.schedule.is_open():
            result.next_window = self.schedule.next_open().isoformat(timespec="minutes")
        return result

    def _pause_active(self) -> None:
        with self._lock:
            for pause in self._active.values():
                pause.set()

    def _next_job(self) -> MailboxJob | None:
        """The next mailbox, once a window is open; None when done or stopping."""
        while not self.stop.is_set():
            if not self.schedule.is_open():
                if not self.wait_for_window:
                    return None
                opens = self.schedule.next_open().isoformat(timespec="minutes")
                self.reporter.waiting_for_window(opens)
                self.stop.wait(min(max(self.schedule.seconds_until_open(), _TICK), 60.0))
                continue
            with self._lock:
                return self._queue.popleft() if self._queue else None
        return None

    def _lane(self) -> None:
        while (job := self._next_job()) is not None:
            outcome = self._run_mailbox(job)
            with self._lock:
                self._result.outcomes[job.user.source_user] = outcome
                if (outcome.status == MailboxStatus.PAUSED and self.wait_for_window
                        and not self.stop.is_set()):
                    self._queue.appendleft(job)  # a window closed: resume in the next one
            self.reporter.mailbox_finished(job.user, outcome)

    def _run_mailbox(self, job: MailboxJob) -> PassOutcome:
        pause = threading.Event()
        with self._lock:
            self._active[job.user.source_user] = pause
        try:
            return self._pass(job, pause)
        finally:
            with self._lock:
                del self._active[job.user.source_user]

    def _pass(self, job: MailboxJob, pause: threading.Event) -> PassOutcome:
        """One pass over a mailbox; the engine retried inside it what its policy retries."""
        user = job.user
        started = time.monotonic()
        engine_reporter = self.reporter.mailbox_started(user)
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
        self.state.finish(user.source_user, outcome)
        return outcome


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
