"""The relay: SMTP listener and spool writer, supervising its delivery process.

Messages are accepted here (spooled and fsynced, then 250) and announced to the delivery
process (see delivery_process.py) on its stdin. Signals: SIGTERM/SIGINT stop cleanly (no
new connections; the delivery process finishes its attempts in progress), SIGHUP reloads
the routes file (it is also reloaded when it changes: this process looks at the file's
stat every ROUTES_CHECK_SECONDS and tells the delivery process), SIGUSR1 retries every
deferred delivery now (`mailferry relay flush`). The spool's status file holds the metrics
of both processes and the queue sizes for `mailferry relay status --json`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
from typing import Any

from mailferry.errors import ConfigError
from mailferry.project import RelaySettings
from mailferry.relay.delivery import Metrics
from mailferry.relay.routing import RoutesFile
from mailferry.relay.server import RelayHandler, load_auth_users
from mailferry.relay.smtp_session import AuthGuard, ConnectionLimits, RelaySMTP
from mailferry.relay.spool import IncomingMessage, Spool, SpooledMessage, read_json, write_json
from mailferry.relay.trouble import OnceLog
from mailferry.relay.upstream import TIMEOUT

log = logging.getLogger("mailferry.relay")

STATUS_SECONDS = 0.5  # status file
ROUTES_CHECK_SECONDS = 2.0  # the routes file's stat (mtime, size, inode)
DELIVERY_STOP_SECONDS = TIMEOUT + 30  # attempts in progress may wait for their reply
RESTART_DELAY_SECONDS = 1.0


class Relay:
    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.hostname = settings.hostname or socket.getfqdn()
        self.spool = Spool(settings.spool)
        self.accepted = 0
        self.routes = RoutesFile(settings.routes, settings.default_route,
                                 tuple(settings.upstreams))
        self.auth_users = load_auth_users(settings.auth_users) if settings.auth_users else None
        self.port: int | None = None  # bound port, known once listening
        self.started = threading.Event()  # tests and the CLI wait on it from other threads
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limits = ConnectionLimits(settings.max_connections,
                                        settings.max_connections_per_client)
        self._auth_guard = AuthGuard()
        self._delivery: asyncio.subprocess.Process | None = None
        self._status_trouble = OnceLog(log, "relay status not written")

    # -- control (also from other threads) ----------------------------------------------

    def request_stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def reload_routes(self, *, force: bool = True) -> None:
        try:
            if self.routes.reload_if_changed(force=force):
                log.info("routes reloaded: %d addresses", len(self.routes.table.routes))
                self._tell_delivery("RELOAD")
        except ConfigError as exc:
            log.error("routes not reloaded, keeping the previous table: %s", exc)

    def flush(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._tell_delivery, "FLUSH")

    def status(self) -> dict[str, Any]:
        """Both processes' metrics and the queue sizes, as in status.json."""
        delivery = read_json(self.spool.delivery_status_path)
        metrics = Metrics(**delivery.get("metrics", {})).as_dict() | {"accepted": self.accepted}
        return {"running": self.started.is_set() and not self._stopping, "pid": os.getpid(),
                "hostname": self.hostname, "listen": f"{self.settings.listen_host}:{self.port}",
                "updated": time.time(), "metrics": metrics, "pending": delivery.get("pending", {})}

    @property
    def _stopping(self) -> bool:
        return self._stop is None or self._stop.is_set()

    # -- the run ------------------------------------------------------------------------

    async def run(self, *, install_signals: bool = True) -> Metrics:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.spool.open_for_accept()
        try:
            server = await self._listen()
        except BaseException:
            self.spool.close()
            raise
        if install_signals:
            self._install_signals()
        supervisor = asyncio.create_task(self._supervise_delivery())
        housekeeping = asyncio.create_task(self._housekeeping())
        self.spool.write_pid()
        log.info("relay listening on %s:%s", self.settings.listen_host, self.port)
        self.started.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for protocol in list(self._limits.active):  # clients without a 250 will retry
                if protocol.transport is not None:
                    protocol.transport.close()
            await server.wait_closed()
            housekeeping.cancel()
            await self._stop_delivery()
            supervisor.cancel()
            await asyncio.gather(supervisor, housekeeping, return_exceptions=True)
            status = self.status()
            self._write_status(status)
            self.spool.close()
            self.spool.remove_pid()
            log.info("relay stopped: %s", json.dumps(status["metrics"]))
        return Metrics(**status["metrics"])

    async def _listen(self) -> asyncio.Server:
        handler = RelayHandler(self.settings.domains, self.hostname, self._begin,
                               self._commit, self.auth_users)
        tls = self._server_tls()

        def make_protocol() -> RelaySMTP:
            return RelaySMTP(
                handler, self._limits, self._auth_guard,
                data_size_limit=self.settings.max_message_size,
                enable_SMTPUTF8=True, hostname=self.hostname, ident="mailferry relay",
                tls_context=tls, auth_required=self.auth_users is not None,
                auth_require_tls=not self.settings.listens_on_loopback,
                authenticator=handler.authenticate if self.auth_users else None)

        try:
            server = await asyncio.get_running_loop().create_server(
                make_protocol, self.settings.listen_host, self.settings.listen_port,
                reuse_address=True)
        except OSError as exc:
            raise ConfigError(f"[relay] listen: {exc}", where=str(self.settings.source)) from None
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
        self._loop.add_signal_handler(signal.SIGUSR1, self._tell_delivery, "FLUSH")

    # -- accepting ----------------------------------------------------------------------

    def _begin(self, spool_id: str, mail_from: str, rcpt_tos: list[str],
               head: bytes) -> IncomingMessage:
        message = SpooledMessage(spool_id, mail_from, time.time(), 0)
        for rcpt in rcpt_tos:
            for name in self.routes.table.upstreams_for(rcpt):
                message.route(name, rcpt)
        incoming = self.spool.begin(message, head)
        if incoming.error is not None:
            raise incoming.error
        return incoming

    async def _commit(self, incoming: IncomingMessage) -> None:
        await asyncio.to_thread(incoming.commit)
        self.accepted += 1
        # a delivery process that is restarting finds it in the spool instead
        self._tell_delivery(incoming.message.spool_id)

    # -- the delivery process -----------------------------------------------------------

    async def _supervise_delivery(self) -> None:
        """Run the delivery process; start it again if it dies while we run."""
        while not self._stopping:
            self._delivery = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mailferry.relay.delivery_process",
                str(self.settings.source), stdin=asyncio.subprocess.PIPE)
            code = await self._delivery.wait()
            if not self._stopping:
                log.error("delivery process exited with %s; starting it again", code)
                await asyncio.sleep(RESTART_DELAY_SECONDS)

    def _tell_delivery(self, line: str) -> None:
        process = self._delivery
        if process is not None and process.stdin is not None and process.returncode is None:
            with contextlib.suppress(ConnectionError, RuntimeError):  # it is restarting
                process.stdin.write(line.encode() + b"\n")

    async def _stop_delivery(self) -> None:
        process = self._delivery
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()  # EOF: finish the attempts in progress, then exit
        try:
            await asyncio.wait_for(process.wait(), DELIVERY_STOP_SECONDS)
        except TimeoutError:
            log.error("delivery process did not stop; killing it")
            process.kill()
            await process.wait()

    async def _housekeeping(self) -> None:
        last_routes_check = time.monotonic()
        while True:
            await asyncio.sleep(STATUS_SECONDS)
            if time.monotonic() - last_routes_check >= ROUTES_CHECK_SECONDS:
                last_routes_check = time.monotonic()
                self.reload_routes(force=False)
            self._write_status(self.status())

    def _write_status(self, status: dict[str, Any]) -> None:
        try:
            write_json(self.spool.status_path, status)
        except OSError as exc:  # a full disk: the relay goes on; `relay status` lags
            self._status_trouble.failed(exc)
        else:
            self._status_trouble.ok()
