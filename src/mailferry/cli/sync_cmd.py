"""`mailferry sync`: copy the mailboxes of a wave (or named users, or everyone), several at
once, within the maintenance windows. Ctrl-C or SIGTERM stops cleanly: folders in progress
finish, nothing new starts, a re-run continues. Exit 0 when every selected mailbox is
synced, 1 otherwise (failed, paused, or waiting for a window), 2 for bad input.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click
from rich.console import Console
from rich.progress import Progress, TaskID

from mailferry.batch import (
    AccountFactory,
    BatchRunner,
    MailboxJob,
    WindowSchedule,
    build_jobs,
    concurrency_for,
    select_mailboxes,
)
from mailferry.engine import (
    CopySummary,
    FolderResult,
    MailboxCopy,
    Reporter,
    SilentReporter,
    imap_source,
)
from mailferry.errors import ConfigError, MailferryError
from mailferry.imap import TlsPolicy
from mailferry.project import MailboxUser, ProjectSettings
from mailferry.report import build_report
from mailferry.store import JobState, LeaseTimes, PassOutcome, ProjectState, StateStore

from .output import line, make_console, print_json, styled
from .progress import advance, progress_bars
from .project_cmd import load_project, mailbox_selection, print_status, project_argument

log = logging.getLogger("mailferry.sync")


class _MailboxBar:
    """The engine's Reporter for one mailbox: its own bar, removed when it finishes."""

    def __init__(self, bars: Progress, task: TaskID, overall: TaskID | None) -> None:
        self.bars = bars
        self.task = task
        self.overall = overall

    def planned(self, folders: int, messages: int, size: int) -> None:
        self.bars.update(self.task, total=messages or None, bytes_total=size or None)

    def progress(self, folder: str, messages: int, size: int) -> None:
        advance(self.bars, self.task, messages, size)
        if self.overall is not None:
            advance(self.bars, self.overall, messages, size, completed=0)

    def folder_finished(self, result: FolderResult) -> None:
        pass


class LiveBatchReporter:
    """An overall bar (mailboxes; messages and bytes copied in this run) and one bar per
    active mailbox (messages, bytes, rates, time left), on a terminal; one line per
    finished mailbox on stderr in any case, for logs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = progress_bars(console)
        self.overall: TaskID | None = None
        self.tasks: dict[str, TaskID] = {}
        self._waiting_shown: str | None = None

    def __enter__(self) -> LiveBatchReporter:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.__exit__(None, None, None)

    def batch_planned(self, mailboxes: int) -> None:
        self.overall = self.bars.add_task("all", total=mailboxes, unit="mailboxes", bytes=0,
                                          messages=0)

    def mailbox_started(self, user: MailboxUser) -> Reporter:
        task = self.bars.add_task(f"  {user.source_user}", total=None, bytes=0)
        self.tasks[user.source_user] = task
        return _MailboxBar(self.bars, task, self.overall)

    def mailbox_finished(self, user: MailboxUser, outcome: PassOutcome) -> None:
        task = self.tasks.pop(user.source_user, None)
        if task is not None:
            self.bars.remove_task(task)
        if self.overall is not None and outcome.status != "paused":
            self.bars.update(self.overall, advance=1)
        note = f": {outcome.error}" if outcome.error else ""
        self.console.print(f"{user.source_user}: {outcome.status}, {outcome.copied} messages "
                           f"copied in {outcome.seconds:.1f}s{note}", markup=False,
                           highlight=False)
        mirror = outcome.mirror
        if mirror.get("enabled"):
            self.console.print(f"{user.source_user}: mirror: {mirror['moved']} moved, "
                               f"{mirror['removed']} removed (each in the report and the log)",
                               markup=False, highlight=False)
        elif mirror.get("note"):
            self.console.print(f"{user.source_user}: {mirror['note']}", markup=False,
                               highlight=False)

    def mailbox_busy(self, user: MailboxUser, holder: str, *, waiting: bool) -> None:
        then = "waiting for it (--wait)" if waiting else "skipped (--wait waits for it)"
        self.console.print(f"{user.source_user}: {holder}; {then}", markup=False,
                           highlight=False)

    def waiting_for_window(self, opens_at: str) -> None:
        if self._waiting_shown != opens_at:  # once per window, not once per lane and tick
            self._waiting_shown = opens_at
            self.console.print(f"outside the maintenance windows: waiting until {opens_at}")


def print_dry_run(settings: ProjectSettings, jobs: list[MailboxJob], *, as_json: bool) -> int:
    """Each selected mailbox's plan, one after another: the copy engine's dry run (it
    creates no folder and appends nothing) on a copy of the state held in memory. Exit 1
    if a mailbox could not be planned (its error said), else 0."""
    plans: dict[str, CopySummary | str] = {}
    store = StateStore.open(settings.state_location(), readonly=True)
    try:
        for job in jobs:
            try:
                source, target = job.accounts()
                plans[job.user.source_user] = MailboxCopy(
                    imap_source(source), target, store,
                    dataclasses.replace(job.options, dry_run=True), SilentReporter()).run()
            except MailferryError as exc:
                plans[job.user.source_user] = str(exc)
    finally:
        store.close()
    if as_json:
        print_json({"dry_run": True, "mailboxes": {
            user: ({"error": plan} if isinstance(plan, str) else plan.to_json())
            for user, plan in plans.items()}})
    else:
        console = make_console()
        for user, plan in plans.items():
            if isinstance(plan, str):
                console.print(line(styled(user, "bold"), ": cannot plan: ", plan))
                continue
            console.print(line(styled(user, "bold"), f": would copy {plan.total('to_copy')} "
                               "messages; folders to create: "
                               f"{', '.join(plan.created) or 'none'}"))
            for folder in plan.folders:
                console.print(f"  {folder.source} -> {folder.target}: " + (
                    f"{folder.status}" + (f" ({folder.note})" if folder.note else "")
                    if folder.status == "excluded" else
                    f"{folder.to_copy} to copy, {folder.present} already there"))
        console.print("dry run: nothing was written to the targets or the state")
    return 1 if any(isinstance(plan, str) for plan in plans.values()) else 0


def stoppable_run(log_file: Path | None) -> tuple[Console, threading.Event]:
    """The error console and the stop event of a run (sync, worker): Ctrl-C and SIGTERM set
    the event (folders in progress finish, nothing new starts); the detailed log, if asked."""
    if log_file is not None:
        logging.basicConfig(filename=str(log_file), level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = make_console(stderr=True)
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            console.print(f"{signal.Signals(signum).name}: finishing the folders in progress, "
                          "then stopping (a re-run continues)")
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
    return console, stop


@click.command()
@project_argument
@mailbox_selection
@click.option("--wait-for-window", is_flag=True,
              help="Outside the maintenance windows, wait for the next one instead of exiting.")
@click.option("--wait", "wait_for_lease", is_flag=True,
              help="A mailbox another run is copying: wait for it, then copy what is left, "
                   "instead of skipping it.")
@click.option("--mailboxes", type=click.IntRange(1, 256), default=None,
              help="Mailboxes at once (default [sync] mailboxes; capped by max_connections).")
@click.option("--workers", type=click.IntRange(1, 32), default=None,
              help="Folders at once per mailbox (default [sync] workers).")
@click.option("--mirror/--no-mirror", default=None,
              help="Mirror mode (default [sync] mirror, per wave [waves.NAME] mirror): our "
                   "copies follow the user's moves and deletions, until the user's cutover.")
@click.option("--force", is_flag=True,
              help="Mirror mode: go on when a folder's removals exceed [sync] mirror_cap.")
@click.option("--dry-run", is_flag=True,
              help="Say what would be copied, per user and folder; write nothing to the "
                   "targets or the state.")
@click.option("--ignore-windows", is_flag=True,
              help="Copy now even outside the [migration] windows (a pilot run, say); said "
                   "on stderr and in the log.")
@click.option("--insecure", is_flag=True, help="Don't verify TLS certificates (not advised).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option("--log-file", type=click.Path(path_type=Path), default=None,
              help="Write a detailed log here.")
@click.option("--distributed", is_flag=True,
              help="Put the mailboxes on the task queue ([sync] broker) for `mailferry "
                   "worker` processes instead of copying them here.")
@click.option("--follow", is_flag=True,
              help="With --distributed: wait until every mailbox is done; exit 0 if all synced.")
def sync(migration_file: Path, wave: str | None, names: tuple[str, ...], wait_for_window: bool,
         wait_for_lease: bool, mailboxes: int | None, workers: int | None, mirror: bool | None,
         force: bool, dry_run: bool, ignore_windows: bool, insecure: bool, as_json: bool,
         log_file: Path | None, distributed: bool, follow: bool) -> int:
    """Copy the selected mailboxes (default: every user in users.csv). A later run copies
    only what arrived since (delta pass)."""
    settings, users = load_project(migration_file)
    selected = select_mailboxes(users, wave=wave, names=names)
    if distributed:
        AccountFactory(settings, TlsPolicy(verify=not insecure)).check(selected)
        return enqueue_and_follow(settings, selected, mirror=mirror, force=force,
                                  follow=follow, as_json=as_json)
    concurrency = concurrency_for(settings, len(selected), mailboxes=mailboxes, workers=workers)
    factory = AccountFactory(settings, TlsPolicy(verify=not insecure))
    jobs = build_jobs(settings, selected, factory, concurrency.workers, mirror=mirror,
                      force=force)
    errors, stop = stoppable_run(log_file)
    if dry_run:
        return print_dry_run(settings, jobs, as_json=as_json)
    schedule = WindowSchedule(settings.windows, settings.timezone)
    if ignore_windows and settings.windows:
        if not schedule.is_open():
            note = ("outside the maintenance windows: copying anyway (--ignore-windows; "
                    f"the next window opens {schedule.next_open().isoformat(timespec='minutes')})")
            log.warning("%s", note)
            errors.print(note)
        schedule = WindowSchedule((), settings.timezone)
    location = settings.state_location()
    store = StateStore.open(location)
    try:
        with ProjectState.open(location) as state, \
                LiveBatchReporter(errors) as reporter:
            runner = BatchRunner(store, state, concurrency, schedule, reporter, stop,
                                 wait_for_window=wait_for_window,
                                 lease_times=LeaseTimes(settings.sync.lease_ttl),
                                 wait_for_lease=wait_for_lease)
            result = runner.run(jobs)
            records = state.records()
    finally:
        store.close()
    if as_json:
        print_json({"ok": result.exit_status == 0, "interrupted": result.interrupted,
                    "not_started": result.not_started, "next_window": result.next_window,
                    "in_progress_elsewhere": result.busy,
                    "concurrency": {"mailboxes": concurrency.mailboxes,
                                    "workers": concurrency.workers},
                    "mailboxes": {user: {"status": o.status, "copied": o.copied,
                                         "bytes": o.bytes, "failed": o.failed,
                                         "error": o.error, "mirror": o.mirror}
                                  for user, o in result.outcomes.items()}})
    else:
        print_status(build_report(settings.name, selected, records), make_console(),
                     settings.timezone)
        if result.not_started:
            when = f"; the next window opens {result.next_window}" if result.next_window else ""
            errors.print(f"{len(result.not_started)} mailboxes not started{when}")
    return result.exit_status


def broker_needed(settings: ProjectSettings, command: str) -> None:
    if settings.sync.broker is None:
        raise ConfigError(f"{command} needs [sync] broker = \"redis://host:port/db\"",
                          where=str(settings.path))


def enqueue_and_follow(settings: ProjectSettings, selected: list[MailboxUser], *,
                       mirror: bool | None, force: bool, follow: bool, as_json: bool) -> int:
    """`sync --distributed`: enqueue, then (with --follow) wait for every job and report."""
    from mailferry.batch import enqueue_run  # Dramatiq and redis: only here (batch/__init__)

    broker_needed(settings, "sync --distributed")
    errors, stop = stoppable_run(None)
    with ProjectState.open(settings.state_location()) as state:
        run_id = enqueue_run(settings, state, selected, mirror=mirror, force=force)
        errors.print(f"run {run_id}: {len(selected)} mailboxes queued")
        jobs = state.jobs(run_id)
        shown = 0
        while follow and not stop.is_set():
            jobs = state.jobs(run_id)
            done = [j for j in jobs if j.state == JobState.DONE]
            if len(done) != shown:
                shown = len(done)
                errors.print(f"{shown}/{len(jobs)} mailboxes done")
            if len(done) == len(jobs):
                break
            stop.wait(1.0)
    finished = all(j.state == JobState.DONE and j.status == "synced" for j in jobs)
    if as_json:
        print_json({"run": run_id, "ok": follow and finished, "jobs": {
            j.source_user: {"state": j.state, "status": j.status, "worker": j.worker,
                            "attempts": j.attempts, "finishes": j.finishes, "note": j.note}
            for j in jobs}})
    return 0 if not follow or finished else 1
