"""A connection cap that holds across every process and machine sharing the store: a batch
on one machine caps its own lanes (limits.py), distributed workers take one of `count`
slot leases before they open a mailbox's connections. A slot is a lease in the store's
lease table (`{name}#{n}`), so it has the same guarantees: compare-and-set, a heartbeat,
free at once when its holder died on this machine, after the TTL when it vanished
elsewhere."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from mailferry.errors import MailboxBusy
from mailferry.store import HeldLease, LeaseTable, LeaseTimes

_RETRY = 0.25  # seconds between two rounds over the slots while all are taken


@dataclass(frozen=True)
class SharedSlots:
    leases: LeaseTable
    name: str  # e.g. "slots imap://src:993 imap://dst:993"
    count: int
    times: LeaseTimes = field(default_factory=LeaseTimes)

    def take(self, stop: threading.Event) -> HeldLease | None:
        """One slot, waiting while all are taken; None once `stop` is set."""
        order = list(range(self.count))
        while not stop.is_set():
            random.shuffle(order)  # many workers: try the slots in different orders
            for n in order:
                try:
                    return self.leases.acquire(f"{self.name}#{n}", times=self.times)
                except MailboxBusy:
                    continue
            stop.wait(_RETRY)
        return None
