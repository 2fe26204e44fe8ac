"""The queue runner: delivers spooled (message, upstream) pairs with bounded concurrency.

Each upstream has its own queue and `upstream_connections` workers, each holding one
reused connection, so a slow or dead upstream never holds up the other. Every attempt is
journalled ("try", then "done"/"defer") before and after talking to the upstream; when
the journal cannot take the "try" (a full disk), the attempt waits, because a crash
could otherwise repeat it unnoticed. Outcomes per recipient: 2xx done; 5xx bounced (a
DSN is spooled first, then the recipient is marked done); 4xx or a connection failure
deferred with exponential backoff, and bounced once the message is older than `max_age`.
A worker survives any error of one attempt: it logs it and the delivery is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mailferry.errors import ConnectionLost, ProtocolError
from mailferry.imap import tls_context
from mailferry.project import RelaySettings
from mailferry.relay.spool import Delivery, Spool, SpooledMessage
from mailferry.relay.trouble import OnceLog
from mailferry.relay.upstream import TIMEOUT, Reply, UpstreamClient
from mailferry.urls import ServerURL

log = logging.getLogger("mailferry.relay")

# (message, upstream name, recipient -> reason) -> spool a DSN to the sender
BounceHook = Callable[[SpooledMessage, str, dict[str, str]], Awaitable[None]]
SPOOL_RETRY_SECONDS = 5.0  # a spool that cannot be written: look again this often


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
    def __init__(self, settings: RelaySettings, upstreams: dict[str, ServerURL], spool: Spool,
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
        self._spool_trouble = OnceLog(log, "spool not readable or writable; deliveries wait")

    # -- scheduling -------------------------------------------------------------------

    def start(self) -> None:
        opportunistic = tls_context(self.settings.tls_verify, self.settings.ca_file)
        verified = tls_context(True, self.settings.ca_file)
        for name, url in self.upstreams.items():
            tls = verified if url.tls_required else opportunistic
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
        if key in self._timers:
            self._timers[key].cancel()
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
        try:
            handle = await asyncio.to_thread(self.spool.open_message, delivery.spool_id)
            try:
                self.spool.record_try(delivery)
            except OSError:
                handle.close()
                raise
        except OSError as exc:
            self._spool_trouble.failed(exc)
            self._wait_for_spool(delivery)
            return
        self._spool_trouble.ok()
        with handle:
            try:
                outcome = await client.deliver(message.mail_from, delivery.recipients, handle)
            except (ConnectionLost, ProtocolError, ssl.SSLError) as exc:
                await self._defer(delivery, str(exc))
                return
        await self._settle(message, delivery, outcome)

    async def _settle(self, message: SpooledMessage, delivery: Delivery,
                      outcome: dict[str, Reply]) -> None:
        delivered = [rcpt for rcpt, reply in outcome.items() if reply.ok]
        refused = {rcpt: str(reply) for rcpt, reply in outcome.items() if reply.permanent}
        if delivered:
            self.spool.record_done(delivery, delivered)
        self.metrics.delivered[delivery.upstream] = (
            self.metrics.delivered.get(delivery.upstream, 0) + len(delivered))
        if refused and await self._bounce(message, delivery.upstream, refused):
            self.spool.record_done(delivery, list(refused))
            self.metrics.bounced += len(refused)
        else:
            refused = {}
        delivery.recipients = [rcpt for rcpt in delivery.recipients
                               if rcpt not in delivered and rcpt not in refused]
        temporary = [(rcpt, reply) for rcpt, reply in outcome.items()
                     if not reply.ok and not reply.permanent]
        if delivery.recipients:
            first = temporary[0] if temporary else (delivery.recipients[0], "DSN not spooled")
            await self._defer(delivery, f"<{first[0]}>: {first[1]}")
        else:
            self._finish(message, delivery)

    async def _bounce(self, message: SpooledMessage, upstream: str,
                      failures: dict[str, str]) -> bool:
        """Spool the DSN; False if the spool could not take it (tried again later)."""
        try:
            await self.bounce(message, upstream, failures)
        except OSError as exc:
            self._spool_trouble.failed(exc)
            return False
        return True

    def _wait_for_spool(self, delivery: Delivery) -> None:
        """The spool cannot be read or journalled: try again soon, without counting an
        attempt (the upstream was never asked)."""
        delivery.next_attempt = time.time() + min(self.settings.retry_initial,
                                                  SPOOL_RETRY_SECONDS)
        if not self._stopping:
            self.schedule(delivery)

    async def _defer(self, delivery: Delivery, error: str) -> None:
        message = self.messages.get(delivery.spool_id)
        if message is None:
            return
        delivery.attempts += 1
        delivery.last_error = error
        if time.time() - message.received_at >= self.settings.max_age:
            reason = f"4.4.7 gave up after {delivery.attempts} attempts; last error: {error}"
            if await self._bounce(message, delivery.upstream,
                                  dict.fromkeys(delivery.recipients, reason)):
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
            with contextlib.suppress(OSError):  # found finished at the next start instead
                self.spool.remove(message.spool_id)
