"""Connection caps: providers throttle, so a batch never opens more connections to a server
than its `max_connections`. A mailbox copy holds `workers` connections on each side (one
per folder in flight), so mailboxes at once x workers per mailbox <= the smaller cap."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Concurrency:
    mailboxes: int  # copied at once
    workers: int  # folders at once within a mailbox = connections per side per mailbox

    @property
    def connections(self) -> int:
        return self.mailboxes * self.workers


def plan_concurrency(*, mailboxes: int, workers: int, selected: int,
                     caps: tuple[int | None, ...]) -> Concurrency:
    """The most parallel plan within every cap (None: uncapped); at least one mailbox on one
    connection per side, so a cap of 1 still makes progress."""
    limit = min((cap for cap in caps if cap is not None), default=None)
    if limit is not None:
        workers = min(workers, limit)
        mailboxes = min(mailboxes, limit // workers)
    return Concurrency(max(1, min(mailboxes, selected)), max(1, workers))
