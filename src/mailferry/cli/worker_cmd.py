"""`mailferry worker`: take mailbox jobs from the project's task queue until stopped
(batch/distributed.py); `sync --distributed` (sync_cmd.py) puts the mailboxes on it.

A worker stops cleanly on SIGTERM or Ctrl-C: the passes in progress finish their folders,
their jobs go back to the queue for another worker, nothing new starts. Exit 0 then.
"""

from __future__ import annotations

from pathlib import Path

import click

from mailferry.batch import AccountFactory, MailboxWorker, make_broker, serve
from mailferry.imap import TlsPolicy
from mailferry.store import ProjectState, StateStore

from .project_cmd import load_project, project_argument
from .sync_cmd import LiveBatchReporter, broker_needed, stoppable_run


@click.command()
@project_argument
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Mailboxes at once in this worker (default [sync] mailboxes); "
                   "max_connections holds across all workers together.")
@click.option("--wait-for-window", is_flag=True,
              help="Outside the maintenance windows, wait here for the next one instead of "
                   "putting the job back with a delay.")
@click.option("--insecure", is_flag=True, help="Don't verify TLS certificates (not advised).")
@click.option("--log-file", type=click.Path(path_type=Path), default=None,
              help="Write a detailed log here.")
def worker(migration_file: Path, threads: int | None, wait_for_window: bool, insecure: bool,
           log_file: Path | None) -> int:
    """Take mailbox jobs from the project's task queue ([sync] broker) until stopped."""
    settings, users = load_project(migration_file)
    broker_needed(settings, "mailferry worker")
    errors, stop = stoppable_run(log_file)
    factory = AccountFactory(settings, TlsPolicy(verify=not insecure))
    factory.check(users)  # bad credentials stop the worker before it takes a job
    location = settings.state_location()
    store = StateStore.open(location)
    try:
        with ProjectState.open(location) as state, LiveBatchReporter(errors) as reporter:
            mailboxes = MailboxWorker(settings, {u.source_user: u for u in users}, store,
                                      state, make_broker(settings), reporter, stop,
                                      wait_for_window=wait_for_window, factory=factory)
            errors.print(f"worker {mailboxes.name}: taking jobs")
            serve(mailboxes, threads=threads or settings.sync.mailboxes)
    finally:
        store.close()
    errors.print("worker stopped")
    return 0
