"""Mailboxes through a task queue: `sync --distributed` enqueues one job per mailbox,
`mailferry worker` processes on any machine take them. Dramatiq with its Redis broker
(docs/scale-out.md says why, and what happens when a worker is killed).

A job is one pass over one mailbox, run by the same `BatchRunner` as a local `sync` (one
lane), so leases, maintenance windows, paused waves, pause on close and the clean stop are
the local ones. Around it:

1. The job's row (store/jobs.py) is taken; a job already done is acknowledged unread (a
   message delivered twice does no mailbox twice).
2. A connection slot is taken (slots.py): `max_connections` holds across all workers.
3. The pass runs. Synced or failed (failures listed in the report): the job is done, its
   row marked, the message acknowledged.
4. Paused (SIGTERM, a window closed, its wave paused, lease lost) or held elsewhere: the
   job goes back to the queue (a copy re-enqueued, with a delay until the next window when
   one closed), then the message is acknowledged.
A worker killed with SIGKILL acknowledges nothing: Dramatiq's Redis broker puts the
messages of a worker whose heartbeat stopped back in the queue (HEARTBEAT_TIMEOUT), and
the mailbox's lease is free at once on this machine, after the TTL elsewhere; the next
worker finds in the target what the dead one appended (engine/sync.py) and copies the rest.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from mailferry.batch.accounts import AccountFactory
from mailferry.batch.jobs import build_jobs, concurrency_for
from mailferry.batch.limits import Concurrency
from mailferry.batch.runner import BatchReporter, BatchRunner
from mailferry.batch.schedule import WindowSchedule
from mailferry.batch.slots import SharedSlots
from mailferry.project import MailboxUser, ProjectSettings
from mailferry.status import MailboxStatus
from mailferry.store import LeaseHolder, LeaseTimes, ProjectState, StateStore

log = logging.getLogger("mailferry.worker")
ACTOR = "mailbox_pass"
NAMESPACE = "mailferry"
# A worker whose heartbeat (any broker command; ours every HEARTBEAT_EVERY) is this old is
# dead: its unacknowledged messages go back to the queue at the next maintenance, which one
# broker command in MAINTENANCE_CHANCE / 1,000,000 runs (Dramatiq's default is 1,000: with
# a few workers that is minutes; here tens of seconds at most).
HEARTBEAT_TIMEOUT_MS = 15_000
HEARTBEAT_EVERY = 2.0
MAINTENANCE_CHANCE = 100_000
BUSY_DELAY_MS = 2_000  # a mailbox held elsewhere comes back after this


def queue_name(settings: ProjectSettings) -> str:
    """One queue per project, so workers of two projects on one broker never mix."""
    return "mailferry." + (re.sub(r"[^A-Za-z0-9_-]+", "-", settings.name).strip("-") or "project")


def make_broker(settings: ProjectSettings) -> RedisBroker:
    """Dramatiq's Redis broker on `[sync] broker`, without Dramatiq's default middleware:
    no time limit (a mailbox takes as long as it takes), no automatic retries (the engine
    retries by error class; a paused job is re-enqueued explicitly)."""
    if settings.sync.broker is None:
        raise ValueError("[sync] broker is not set")
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.sync.broker, password=settings.broker_password(), namespace=NAMESPACE,
        middleware=[], heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE)
    broker.declare_queue(queue_name(settings))
    return broker


def _message(queue: str, payload: dict[str, Any]) -> dramatiq.Message[Any]:
    return dramatiq.Message(queue_name=queue, actor_name=ACTOR, args=(payload,), kwargs={},
                            options={})


def enqueue_run(settings: ProjectSettings, state: ProjectState, users: Sequence[MailboxUser],
                *, mirror: bool | None = None, force: bool = False,
                broker: RedisBroker | None = None) -> str:
    """Record a run's jobs, then put one message per mailbox on the queue; its run id."""
    run_id = uuid.uuid4().hex
    names = [user.source_user for user in users]
    state.add_jobs(run_id, names)
    own = broker is None
    broker = broker or make_broker(settings)
    try:
        queue = queue_name(settings)
        for name in names:
            broker.enqueue(_message(queue, {"run": run_id, "user": name, "mirror": mirror,
                                            "force": force}))
    finally:
        if own:
            broker.close()
    return run_id


@dataclass
class MailboxWorker:
    """What one `mailferry worker` process does with each message (from Dramatiq's threads)."""

    settings: ProjectSettings
    users: dict[str, MailboxUser]
    store: StateStore
    state: ProjectState
    broker: RedisBroker
    reporter: BatchReporter
    stop: threading.Event
    wait_for_window: bool = False
    schedule: WindowSchedule | None = None
    factory: AccountFactory | None = None
    name: str = field(default_factory=lambda: (
        f"{LeaseHolder.this_process().host} pid {LeaseHolder.this_process().pid}"))

    def __post_init__(self) -> None:
        self.factory = self.factory or AccountFactory(self.settings)
        self.schedule = self.schedule or WindowSchedule(self.settings.windows,
                                                        self.settings.timezone)
        self.lease_times = LeaseTimes(self.settings.sync.lease_ttl)
        plan = concurrency_for(self.settings, 1 << 20)
        caps = [c for c in (self.settings.source.max_connections,
                            self.settings.target.max_connections) if c is not None]
        self.workers = plan.workers
        self.slots = SharedSlots(
            self.store.leases,
            f"slots {self.settings.source.imap[0]} {self.settings.target.imap[0]}",
            max(1, min(caps) // plan.workers), self.lease_times) if caps else None

    def handle(self, payload: dict[str, Any]) -> None:
        run_id, name = str(payload["run"]), str(payload["user"])
        user = self.users.get(name)
        if user is None:  # users.csv of this worker differs from the enqueuer's
            log.error("job for %s: not in this worker's users file; left in the queue", name)
            self._again(payload, "unknown user here", BUSY_DELAY_MS)
            return
        if self.stop.is_set():
            self._again(payload, "worker stopping", 0)
            return
        if not self.state.take_job(run_id, name, self.name):
            log.info("job for %s in run %s: done already", name, run_id)
            return
        slot = self.slots.take(self.stop) if self.slots is not None else None
        if self.slots is not None and slot is None:
            self._again(payload, "worker stopping", 0, run_id=run_id)
            return
        try:
            status, delay, note = self._pass(user, payload)
        finally:
            if slot is not None:
                slot.release()
        if status is not None:
            self.state.finish_job(run_id, name, status)
        else:
            self._again(payload, note, delay, run_id=run_id)

    def _pass(self, user: MailboxUser, payload: dict[str, Any],
              ) -> tuple[MailboxStatus | None, int, str]:
        assert self.factory is not None and self.schedule is not None
        jobs = build_jobs(self.settings, [user], self.factory, self.workers,
                          mirror=payload.get("mirror"), force=bool(payload.get("force")))
        runner = BatchRunner(self.store, self.state, Concurrency(1, self.workers),
                             self.schedule, self.reporter, self.stop,
                             wait_for_window=self.wait_for_window,
                             lease_times=self.lease_times)
        result = runner.run(jobs)
        outcome = result.outcomes.get(user.source_user)
        if outcome is not None and outcome.status in (MailboxStatus.SYNCED,
                                                      MailboxStatus.FAILED):
            return outcome.status, 0, ""
        if result.busy:
            return None, BUSY_DELAY_MS, "held elsewhere"
        if not self.schedule.is_open():
            wait = self.schedule.seconds_until_open()
            return None, int(min(wait, 3600) * 1000), "outside the maintenance windows"
        return None, 0, "paused" if outcome is not None else "not started"

    def _again(self, payload: dict[str, Any], note: str, delay_ms: int, *,
               run_id: str | None = None) -> None:
        """Back to the queue: a copy is enqueued before this message is acknowledged (a
        kill between the two leaves two messages; the job's row makes the second a no-op)."""
        if run_id is not None:
            self.state.return_job(run_id, str(payload["user"]), note)
        self.broker.enqueue(_message(queue_name(self.settings), payload),
                            delay=delay_ms or None)


def serve(worker: MailboxWorker, *, threads: int,
          on_idle: Callable[[], None] | None = None) -> None:
    """Take jobs until `worker.stop` is set; then the passes in progress finish their
    folders, their jobs go back to the queue, and the function returns."""
    queue = queue_name(worker.settings)
    dramatiq.Actor(worker.handle, broker=worker.broker, actor_name=ACTOR, queue_name=queue,
                   priority=0, options={})
    consumer = dramatiq.Worker(worker.broker, queues={queue}, worker_threads=threads,
                               worker_timeout=500)
    consumer.queue_prefetch = threads  # no message waits in a busy worker's memory
    consumer.start()
    try:
        while not worker.stop.wait(HEARTBEAT_EVERY):
            # a broker command is the heartbeat (and may run the maintenance that puts
            # dead workers' messages back): the consumers send none while all threads work
            worker.broker.do_qsize(queue)
            if on_idle is not None:
                on_idle()
    finally:
        consumer.stop(timeout=24 * 3600 * 1000)  # the passes finish their folders first
        worker.broker.close()
