"""The queue runner: delivers spooled (message, upstream) pairs with bounded concurrency.

Each upstream has its own queue and `upstream_connections` workers, each holding one
reused connection, so a slow or dead upstream never holds up the other. Every attempt is
journalled ("try", then "done"/"defer") before and after talking to the upstream.
Outcomes per recipient: 2xx done; 5xx bounced (a DSN is spooled first, then the
recipient is marked done); 4xx or a connection failure deferred with exponential
backoff, and bounced once the message is older than `max_age`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mailferry.errors import ConnectionLost, ProtocolError
from mailferry.project.relay import RelaySettings, UpstreamURL
from mailferry.relay.spool import Delivery, Spool, SpooledMessage
from mailferry.relay.upstream import TIMEOUT, UpstreamClient, client_tls_context

log = logging.getLogger("mailferry.relay")

# (message, upstream name, recipient -> reason) -> spool a DSN to the sender
BounceHook = Callable[[SpooledMessage, str, dict[str, str]], Awaitable[None]]


@dataclass
class Metrics:
    accepted: int = 0  # messages answered 250
    delivered: dict[str, int] = field(default_factory=dict)  # recipients, per upstream
    deferred: int = 0  # attempts that will be retried
    bounced: int = 0  # recipients given up on
    possible_duplicates: int = 0  # deliveries in flight when the previous run died

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "delivered": dict(self.delivered),
                "deferred": self.deferred, "bounced": self.bounced,
                "possible_duplicates": self.possible_duplicates}


class Deliverer:
    def __init__(self, settings: RelaySettings, upstreams: dict[str, UpstreamURL], spool: Spool,
                 messages: dict[str, SpooledMessage], metrics: Metrics, helo_name: str,
                 bounce: BounceHook) -> None:
        self.settings = settings
        self.upstreams = upstreams
        self.spool = spool
        self.messages = messages
        self.metrics = metrics
        self.helo_name = helo_name
        self.bounce = bounce
        self._queues: dict[str, asyncio.Queue[Delivery]] = {
            name: asyncio.Queue() for name in upstreams}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._attempting: set[tuple[str, str]] = set()  # (spool id, upstream)
        self._stopping = False

    # -- scheduling -------------------------------------------------------------------

    def start(self) -> None:
        tls = client_tls_context(self.settings.tls_verify, self.settings.ca_file)
        for name, url in self.upstreams.items():
            for _ in range(self.settings.upstream_connections):
                client = UpstreamClient(url, tls, self.helo_name)
                self._workers.append(asyncio.create_task(self._work(name, client)))
        for message in self.messages.values():
            for delivery in message.deliveries.values():
                self.schedule(delivery)

    def schedule(self, delivery: Delivery) -> None:
        if delivery.upstream not in self._queues:
            log.error("spool %s: upstream %r is no longer configured; kept in the spool",
                      delivery.spool_id, delivery.upstream)
            return
        delay = delivery.next_attempt - time.time()
        if delay <= 0:
            self._queues[delivery.upstream].put_nowait(delivery)
            return
        key = (delivery.spool_id, delivery.upstream)
        self._timers[key] = asyncio.get_running_loop().call_later(
            delay, self._due, key, delivery)

    def _due(self, key: tuple[str, str], delivery: Delivery) -> None:
        self._timers.pop(key, None)
        self._queues[delivery.upstream].put_nowait(delivery)

    def flush(self) -> int:
        """Retry every deferred delivery now; returns how many."""
        timers, self._timers = self._timers, {}
        for handle in timers.values():
            handle.cancel()
        for (spool_id, upstream) in timers:
            message = self.messages.get(spool_id)
            delivery = message.deliveries.get(upstream) if message else None
            if delivery is not None:
                delivery.next_attempt = 0.0
                self._queues[upstream].put_nowait(delivery)
        return len(timers)

    async def stop(self, grace: float = TIMEOUT + 5) -> None:
        """Let attempts in progress finish (a cut one may be a duplicate), then stop."""
        self._stopping = True
        for handle in self._timers.values():
            handle.cancel()
        for task in self._workers:
            if task not in self._busy:
                task.cancel()
        if self._workers:
            await asyncio.wait(self._workers, timeout=grace)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    def pending_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.upstreams, 0)
        for message in self.messages.values():
            for name in message.deliveries:
                counts[name] = counts.get(name, 0) + 1
        return counts

    # -- attempts ---------------------------------------------------------------------

    async def _work(self, upstream: str, client: UpstreamClient) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            while not self._stopping:
                delivery = await self._queues[upstream].get()
                key = (delivery.spool_id, delivery.upstream)
                if key in self._attempting:
                    continue  # queued twice: one attempt at a time, or the upstream gets two
                self._busy.add(task)
                self._attempting.add(key)
                try:
                    await self._attempt(client, delivery)
                except Exception:  # a bug must not silently stop this upstream's worker
                    log.exception("spool %s: delivery to %s failed", delivery.spool_id, upstream)
                    await self._defer(delivery, "internal error (see log)")
                finally:
                    self._busy.discard(task)
                    self._attempting.discard(key)
        finally:
            await client.close()

    async def _attempt(self, client: UpstreamClient, delivery: Delivery) -> None:
        message = self.messages.get(delivery.spool_id)
        if message is None or message.deliveries.get(delivery.upstream) is not delivery:
            return  # finished meanwhile
        raw = await asyncio.to_thread(self.spool.read_message, delivery.spool_id)
        self.spool.record_try(delivery)
        try:
            outcome = await client.deliver(message.mail_from, delivery.recipients, raw)
        except (ConnectionLost, ProtocolError) as exc:
            await self._defer(delivery, str(exc))
            return
        delivered = [rcpt for rcpt, reply in outcome.items() if reply.ok]
        refused = {rcpt: str(reply) for rcpt, reply in outcome.items() if reply.permanent}
        if refused:
            await self.bounce(message, delivery.upstream, refused)
        finished = delivered + list(refused)
        if finished:
            self.spool.record_done(delivery, finished)
        self.metrics.delivered[delivery.upstream] = (
            self.metrics.delivered.get(delivery.upstream, 0) + len(delivered))
        self.metrics.bounced += len(refused)
        temporary = [(rcpt, reply) for rcpt, reply in outcome.items()
                     if not reply.ok and not reply.permanent]
        delivery.recipients = [rcpt for rcpt, _ in temporary]
        if temporary:
            await self._defer(delivery, f"<{temporary[0][0]}>: {temporary[0][1]}")
        else:
            self._finish(message, delivery)

    async def _defer(self, delivery: Delivery, error: str) -> None:
        message = self.messages.get(delivery.spool_id)
        if message is None:
            return
        delivery.attempts += 1
        delivery.last_error = error
        if time.time() - message.received_at >= self.settings.max_age:
            reason = f"4.4.7 gave up after {delivery.attempts} attempts; last error: {error}"
            await self.bounce(message, delivery.upstream, dict.fromkeys(delivery.recipients,
                                                                        reason))
            self.spool.record_done(delivery, delivery.recipients)
            self.metrics.bounced += len(delivery.recipients)
            self._finish(message, delivery)
            return
        backoff = self.settings.retry_initial * 2 ** min(delivery.attempts - 1, 30)
        delivery.next_attempt = time.time() + min(backoff, self.settings.retry_max)
        self.spool.record_defer(delivery)
        self.metrics.deferred += 1
        log.info("spool %s: deferred for %s (attempt %d): %s", delivery.spool_id,
                 delivery.upstream, delivery.attempts, error)
        if not self._stopping:
            self.schedule(delivery)

    def _finish(self, message: SpooledMessage, delivery: Delivery) -> None:
        message.deliveries.pop(delivery.upstream, None)
        if not message.deliveries:
            self.messages.pop(message.spool_id, None)
            self.spool.remove(message.spool_id)
