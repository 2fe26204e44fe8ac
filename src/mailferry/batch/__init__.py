"""Many mailboxes at once: selection, waves, maintenance windows, connection caps, retries.

Knows nothing of the command line: the CLI builds a `BatchRunner` and a reporter.
"""

from typing import TYPE_CHECKING

from mailferry.batch.accounts import AccountFactory, account_urls
from mailferry.batch.checks import UserBackup, UserVerify, backup_users, verify_users
from mailferry.batch.dedupe import DedupeRun, UserDedupe, dedupe_users
from mailferry.batch.inventory import count_mailbox, inventory_users
from mailferry.batch.jobs import build_jobs, concurrency_for, copy_options
from mailferry.batch.limits import Concurrency, plan_concurrency
from mailferry.batch.runner import BatchReporter, BatchResult, BatchRunner, MailboxJob
from mailferry.batch.schedule import WindowSchedule
from mailferry.batch.selection import select_mailboxes
from mailferry.batch.waves import PILOT, UNASSIGNED, WaveInfo, draw_pilot, waves_of

if TYPE_CHECKING:
    from mailferry.batch.distributed import MailboxWorker, enqueue_run, make_broker, serve

# Dramatiq and the redis client load only for `worker` and `sync --distributed`: every other
# command (and an install whose Python needs more of redis's own dependencies) goes without
_DISTRIBUTED = frozenset({"MailboxWorker", "enqueue_run", "make_broker", "serve"})


def __getattr__(name: str) -> object:
    if name in _DISTRIBUTED:
        from mailferry.batch import distributed
        return getattr(distributed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PILOT", "UNASSIGNED", "AccountFactory", "BatchReporter", "BatchResult", "BatchRunner",
    "Concurrency", "DedupeRun", "MailboxJob", "MailboxWorker", "UserBackup", "UserDedupe",
    "UserVerify", "WaveInfo", "WindowSchedule", "account_urls", "backup_users", "build_jobs",
    "concurrency_for", "copy_options", "count_mailbox", "dedupe_users", "draw_pilot",
    "enqueue_run", "inventory_users", "make_broker", "plan_concurrency", "select_mailboxes",
    "serve", "verify_users", "waves_of",
]
