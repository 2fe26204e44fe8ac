"""The relay process: SMTP listener, spool, delivery workers, signals, status file.

Signals: SIGTERM/SIGINT stop cleanly (no new connections, attempts in progress finish),
SIGHUP reloads the routes file (it is also reloaded when it changes), SIGUSR1 retries
every deferred delivery now (`mailferry relay flush`). `status.json` in the spool holds
the metrics and queue sizes for `mailferry relay status --json`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import ssl
import threading
import time
from typing import Any

from mailferry.errors import ConfigError
from mailferry.project.relay import RelaySettings, UpstreamURL
from mailferry.relay.bounce import make_dsn
from mailferry.relay.delivery import Deliverer, Metrics
from mailferry.relay.routing import RoutesFile
from mailferry.relay.server import ConnectionLimits, LimitedSMTP, RelayHandler, load_auth_users
from mailferry.relay.spool import Delivery, Spool, SpooledMessage, new_spool_id

log = logging.getLogger("mailferry.relay")

BOUNCE_UPSTREAM = "bounce"  # the `bounce_via` smarthost, for senders outside our domains
HOUSEKEEPING_SECONDS = 0.2  # journal fsync and routes-file check
METRICS_LOG_SECONDS = 60.0


class Relay:
    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.hostname = settings.hostname or socket.getfqdn()
        self.spool = Spool(settings.spool)
        self.metrics = Metrics()
        self.routes = RoutesFile(settings.routes, settings.default_route,
                                 tuple(settings.upstreams))
        self.upstreams: dict[str, UpstreamURL] = dict(settings.upstreams)
        if settings.bounce_via is not None:
            self.upstreams[BOUNCE_UPSTREAM] = settings.bounce_via
        self.auth_users = load_auth_users(settings.auth_users) if settings.auth_users else None
        self.port: int | None = None  # bound port, known once listening
        self.started = threading.Event()  # tests and the CLI wait on it from other threads
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._messages: dict[str, SpooledMessage] = {}
        self._deliverer: Deliverer | None = None
        self._limits = ConnectionLimits(settings.max_connections,
                                        settings.max_connections_per_client)

    # -- control (also from other threads) ----------------------------------------------

    def request_stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def reload_routes(self, *, force: bool = True) -> None:
        try:
            if self.routes.reload_if_changed(force=force):
                log.info("routes reloaded: %d addresses", len(self.routes.table.routes))
        except ConfigError as exc:
            log.error("routes not reloaded, keeping the previous table: %s", exc)

    def flush(self) -> None:
        if self._deliverer is not None:
            log.info("flush: %d deferred deliveries retried now", self._deliverer.flush())

    # -- the run ------------------------------------------------------------------------

    async def run(self, *, install_signals: bool = True) -> Metrics:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._messages = self.spool.open()
        self.metrics.possible_duplicates = sum(
            d.in_flight for m in self._messages.values() for d in m.deliveries.values())
        if self.metrics.possible_duplicates:
            log.warning("%d deliveries were in flight when the relay last stopped; retrying "
                        "them (the upstream may already have them)",
                        self.metrics.possible_duplicates)
        try:
            server = await self._listen()
        except BaseException:
            self.spool.close()
            raise
        self._deliverer = Deliverer(self.settings, self.upstreams, self.spool, self._messages,
                                    self.metrics, self.hostname, self._bounce)
        self._deliverer.start()
        if install_signals:
            self._install_signals()
        housekeeping = asyncio.create_task(self._housekeeping())
        (self.settings.spool / "relay.pid").write_text(f"{os.getpid()}\n")
        log.info("relay listening on %s:%s, %d messages in the spool",
                 self.settings.listen_host, self.port, len(self._messages))
        self.started.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for protocol in list(self._limits.active):  # clients without a 250 will retry
                if protocol.transport is not None:
                    protocol.transport.close()
            await server.wait_closed()
            await self._deliverer.stop()
            housekeeping.cancel()
            await asyncio.gather(housekeeping, return_exceptions=True)
            self._write_status(running=False)
            self.spool.close()
            (self.settings.spool / "relay.pid").unlink(missing_ok=True)
            log.info("relay stopped: %s", json.dumps(self.metrics.as_dict()))
        return self.metrics

    async def _listen(self) -> asyncio.Server:
        limits = self._limits
        handler = RelayHandler(self.settings.domains, self.hostname, self._accept,
                               self.auth_users)
        tls = self._server_tls()

        def make_protocol() -> LimitedSMTP:
            protocol = LimitedSMTP(
                handler, limits, data_size_limit=self.settings.max_message_size,
                enable_SMTPUTF8=True, hostname=self.hostname, ident="mailferry relay",
                tls_context=tls, auth_required=self.auth_users is not None,
                auth_require_tls=not self.settings.listens_on_loopback,
                authenticator=handler.authenticate if self.auth_users else None)
            return protocol

        try:
            server = await asyncio.get_running_loop().create_server(
                make_protocol, self.settings.listen_host, self.settings.listen_port,
                reuse_address=True)
        except OSError as exc:
            raise ConfigError(f"cannot listen: {exc}", where=f"{self.settings.source}: "
                              f"[relay] listen") from None
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _server_tls(self) -> ssl.SSLContext | None:
        if self.settings.tls_cert is None or self.settings.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load tls_cert/tls_key: {exc}",
                              where=str(self.settings.tls_cert)) from None
        return context

    def _install_signals(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        self._loop.add_signal_handler(signal.SIGINT, self._stop.set)
        self._loop.add_signal_handler(signal.SIGHUP, self.reload_routes)
        self._loop.add_signal_handler(signal.SIGUSR1, self.flush)

    # -- accepting and bouncing ---------------------------------------------------------

    async def _accept(self, spool_id: str, mail_from: str, rcpt_tos: list[str],
                      raw: bytes) -> None:
        per_upstream: dict[str, list[str]] = {}
        for rcpt in rcpt_tos:
            for name in self.routes.table.upstreams_for(rcpt):
                per_upstream.setdefault(name, []).append(rcpt)
        await self._enqueue(spool_id, mail_from, per_upstream, raw, is_bounce=False)
        self.metrics.accepted += 1

    async def _enqueue(self, spool_id: str, mail_from: str, per_upstream: dict[str, list[str]],
                       raw: bytes, *, is_bounce: bool) -> None:
        message = SpooledMessage(spool_id, mail_from, time.time(), len(raw), is_bounce=is_bounce)
        for name, recipients in per_upstream.items():
            message.deliveries[name] = Delivery(spool_id, name, recipients)
        await asyncio.to_thread(self.spool.store, message, raw)
        self._messages[spool_id] = message
        assert self._deliverer is not None
        for delivery in message.deliveries.values():
            self._deliverer.schedule(delivery)

    async def _bounce(self, message: SpooledMessage, upstream: str,
                      failures: dict[str, str]) -> None:
        sender = message.mail_from
        log.warning("spool %s: %s refused %s", message.spool_id, upstream, failures)
        if message.is_bounce or not sender or sender == "<>":
            return  # never bounce a bounce
        domain = sender.rpartition("@")[2].lower()
        if domain in self.settings.domains:
            targets = {name: [sender] for name in self.routes.table.upstreams_for(sender)}
        elif BOUNCE_UPSTREAM in self.upstreams:
            targets = {BOUNCE_UPSTREAM: [sender]}
        else:
            log.warning("spool %s: no DSN to <%s>: set bounce_via to reach outside senders",
                        message.spool_id, sender)
            return
        raw = await asyncio.to_thread(self.spool.read_message, message.spool_id)
        dsn = make_dsn(hostname=self.hostname, mail_from=sender, upstream=upstream,
                       failures=failures, original=raw)
        await self._enqueue(new_spool_id(), "", targets, dsn, is_bounce=True)

    # -- housekeeping -------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        last_status = last_metrics = time.monotonic()
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            await asyncio.to_thread(self.spool.sync)
            self.reload_routes(force=False)
            now = time.monotonic()
            if now - last_status >= 1.0:
                last_status = now
                self._write_status(running=True)
            if now - last_metrics >= METRICS_LOG_SECONDS:
                last_metrics = now
                log.info("metrics: %s", json.dumps(self.metrics.as_dict()))

    def status(self, *, running: bool) -> dict[str, Any]:
        pending = self._deliverer.pending_counts() if self._deliverer else {}
        return {"running": running, "pid": os.getpid(), "hostname": self.hostname,
                "listen": f"{self.settings.listen_host}:{self.port}",
                "updated": time.time(), "metrics": self.metrics.as_dict(), "pending": pending}

    def _write_status(self, *, running: bool) -> None:
        path = self.settings.spool / "status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status(running=running), indent=2) + "\n")
        os.replace(tmp, path)
