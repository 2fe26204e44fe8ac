"""The one retry policy: whether to try again is decided by the error's class alone.

Retried, with exponential backoff: a connection that could not be made or was lost, a
command past its deadline, an incomplete FETCH answer, a server saying "try again later"
(whose own suggested wait, e.g. Microsoft's "Suggested Backoff Time", is honoured up to a
cap). Never retried: refused credentials or authorisation, untrusted certificates, bad
configuration, refusals, unparsable replies, and anything that is not a MailferryError.

Connecting, preparing a mailbox and copying each folder all go through `RetryPolicy.run`;
the batch runner does not retry on top of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mailferry.errors import ConnectError, MailferryError, TryAgainLater

log = logging.getLogger("mailferry.retry")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 6  # after the first attempt
    backoff: float = 0.5  # seconds before the first retry, doubled for each next one
    backoff_max: float = 30.0
    suggested_max: float = 300.0  # a server's own "wait this long" is honoured up to here

    @staticmethod
    def retryable(exc: BaseException) -> bool:
        return isinstance(exc, MailferryError) and exc.retryable

    def delay(self, attempt: int, exc: BaseException) -> float:
        """Seconds to wait after failed attempt number `attempt` (0 for the first)."""
        if isinstance(exc, TryAgainLater | ConnectError) and exc.delay is not None:
            return min(max(exc.delay, 0.0), self.suggested_max)
        return min(self.backoff * 2.0 ** attempt, self.backoff_max)

    def run(self, action: Callable[[], T], *, what: str,
            stop: threading.Event | None = None,
            before_retry: Callable[[], None] | None = None) -> T:
        """`action()` until it succeeds, raises what is not worth retrying, or the retries
        run out (then the last error is raised). `before_retry` runs before each retry (to
        drop broken connections); a `stop` set during a wait ends the retries at once."""
        attempt = 0
        while True:
            try:
                return action()
            except MailferryError as exc:
                if not self.retryable(exc) or attempt >= self.retries:
                    raise
                wait = self.delay(attempt, exc)
                log.info("%s: %s; retrying in %.1fs", what, exc, wait)
                if before_retry is not None:
                    before_retry()
                if stop is not None:
                    if stop.wait(wait):
                        raise
                else:
                    threading.Event().wait(wait)
                attempt += 1
