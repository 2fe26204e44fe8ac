"""The lease a command takes on its target mailbox before it writes (see docs/leases.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mailferry.engine import (
    CopySummary,
    MailboxCopy,
    SessionPair,
)
from mailferry.errors import MailboxBusy
from mailferry.imap import Account

from .output import make_console

if TYPE_CHECKING:
    from rich.console import Console

    from mailferry.store import HeldLease, StateStore

F = TypeVar("F", bound=Callable[..., Any])


def lease_options(function: F) -> F:
    function = click.option(
        "--lease-ttl", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
        help="Seconds of silence after which this run's lease on the target mailbox is "
             "free for others (a killed run's, for instance).")(function)
    return click.option(
        "--wait", "wait_for_lease", is_flag=True,
        help="If another run is writing the target mailbox, wait for it instead of "
             "exiting with status 1.")(function)


def take_lease(store: StateStore, target: Account, *, wait: bool, ttl: float,
               console: Console | None = None) -> HeldLease:
    """The lease on `target`'s mailbox; MailboxBusy (exit 1) if another run holds it,
    unless `wait` (said on `console`, by default one on stderr)."""
    from mailferry.store import LeaseTimes, mailbox_lease_key  # SQLAlchemy: only to write

    key = mailbox_lease_key(str(target.endpoint))
    times = LeaseTimes(ttl)
    try:
        return store.leases.acquire(key, times=times)
    except MailboxBusy as busy:
        if not wait:
            raise MailboxBusy(f"{busy} (--wait waits for it)", holder=busy.holder) from None
        (console or make_console(stderr=True)).print(f"{busy}: waiting for it (--wait)")
        return store.leases.acquire(key, times=times, wait=True)


def copy_under_lease(copy: MailboxCopy, sessions: SessionPair, *, wait: bool, ttl: float,
                     console: Console | None = None) -> CopySummary:
    """Run `copy` on the sessions `connect` opened, holding the lease on its target mailbox:
    every target session writes only while the lease holds, and a lost lease starts no
    further folder. A dry run writes nothing and takes no lease. The sessions are logged
    out in any case."""
    if copy.options.dry_run:
        return copy.run(sessions)
    try:
        lease = take_lease(copy.store, copy.target, wait=wait, ttl=ttl, console=console)
    except BaseException:
        sessions.logout()
        raise
    with lease:
        guarded = dataclasses.replace(copy.target, write_guard=lease)
        sessions.target = guarded  # reconnects too
        if sessions.tgt is not None:
            sessions.tgt.write_guard = lease
        return dataclasses.replace(copy, target=guarded, stop=lease.lost).run(sessions)

