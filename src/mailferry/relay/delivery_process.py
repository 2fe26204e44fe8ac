"""The relay's delivery process: `python -m mailferry.relay.delivery_process MIGRATION_FILE`.

The SMTP process starts it and writes one line per event to its stdin: a spool id when a
message was spooled, FLUSH (retry deferred deliveries now), RELOAD (re-read the routes:
the SMTP process watches the file, this one never polls it).
It runs in its own process so that a kill -9 of the relay does not cut a delivery between
the upstream's acceptance and our journal record: when its stdin closes (the relay
stopped or died), it takes no new work, lets the attempts in progress finish and record
their outcome, and exits. A relay started meanwhile waits for it (deliver.lock), so no
(message, upstream) is ever attempted by two processes at once. SIGTERM and SIGINT
(Ctrl-C reaches the whole process group) mean the same: finish and exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

from mailferry.errors import ConfigError
from mailferry.project import RelaySettings, load
from mailferry.relay.bounce import make_dsn
from mailferry.relay.delivery import Deliverer, Metrics
from mailferry.relay.routing import RoutesFile
from mailferry.relay.spool import (
    Spool,
    SpooledMessage,
    new_spool_id,
    read_envelope,
    write_json,
)
from mailferry.relay.trouble import OnceLog
from mailferry.urls import ServerURL

log = logging.getLogger("mailferry.relay.delivery")

BOUNCE_UPSTREAM = "bounce"  # the `bounce_via` smarthost, for senders outside our domains
PREVIOUS_PROCESS_WAIT = 120.0  # a previous delivery process finishing its last attempts
HOUSEKEEPING_SECONDS = 0.2  # journal fsync, status file
METRICS_LOG_SECONDS = 60.0


class DeliveryService:
    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.hostname = settings.hostname or socket.getfqdn()
        self.spool = Spool(settings.spool, tmp_name="tmp-delivery")
        self.metrics = Metrics()
        # routes only steer DSNs here; the SMTP side already refused a bad file at start
        self.routes = RoutesFile(settings.routes, settings.default_route,
                                 tuple(settings.upstreams), strict=False)
        self.upstreams: dict[str, ServerURL] = dict(settings.upstreams)
        if settings.bounce_via is not None:
            self.upstreams[BOUNCE_UPSTREAM] = settings.bounce_via
        self._messages: dict[str, SpooledMessage] = {}
        self._deliverer: Deliverer | None = None
        self._status_trouble = OnceLog(log, "delivery status not written")

    async def run(self) -> None:
        messages = await asyncio.to_thread(self.spool.open_for_delivery, PREVIOUS_PROCESS_WAIT)
        if messages is None:
            raise ConfigError("a previous delivery process is still running",
                              where=str(self.settings.spool))
        self._messages = messages
        for delivery in (d for m in messages.values() for d in m.deliveries.values()):
            if delivery.in_flight:  # one line each: what an operator dedupes by
                self.metrics.possible_duplicates += 1
                log.warning("possible duplicate: spool %s to %s was in flight at a crash; "
                            "retrying it (the upstream may already have it)",
                            delivery.spool_id, delivery.upstream)
        self._deliverer = Deliverer(self.settings, self.upstreams, self.spool, messages,
                                    self.metrics, self.hostname, self._bounce)
        self._deliverer.start()
        self._write_status()  # `relay status` names this process from its first moment
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        commands = asyncio.create_task(self._read_commands(stop))
        housekeeping = asyncio.create_task(self._housekeeping())
        try:
            await stop.wait()
        finally:
            commands.cancel()
            await self._deliverer.stop()
            housekeeping.cancel()
            await asyncio.gather(commands, housekeeping, return_exceptions=True)
            self._write_status()
            self.spool.close()
            log.info("delivery stopped: %s", json.dumps(self.metrics.as_dict()))

    async def _read_commands(self, stop: asyncio.Event) -> None:
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        try:
            while line := (await reader.readline()).decode().strip():
                self._command(line)
        finally:
            transport.close()
            stop.set()  # EOF: the relay stopped or died

    def _command(self, line: str) -> None:
        assert self._deliverer is not None
        if line == "FLUSH":
            log.info("flush: %d deferred deliveries retried now", self._deliverer.flush())
        elif line == "RELOAD":
            self._reload_routes(force=True)
        elif line not in self._messages:
            message = read_envelope(self.spool.msg_dir / f"{line}.msg")
            if message is not None:  # None: delivered already, found at start-up
                self._messages[line] = message
                for delivery in message.deliveries.values():
                    self._deliverer.schedule(delivery)

    def _reload_routes(self, *, force: bool) -> None:
        try:
            self.routes.reload_if_changed(force=force)
        except ConfigError as exc:
            log.error("routes not reloaded, keeping the previous table: %s", exc)

    async def _bounce(self, message: SpooledMessage, upstream: str,
                      failures: dict[str, str]) -> None:
        """Spool a DSN to the sender (and route it like any mail to our domains)."""
        sender = message.mail_from
        log.warning("spool %s: %s refused %s", message.spool_id, upstream, failures)
        if message.is_bounce or not sender:
            return  # never bounce a bounce
        if sender.rpartition("@")[2].lower() in self.settings.domains:
            targets = {name: [sender] for name in self.routes.table.upstreams_for(sender)}
        elif BOUNCE_UPSTREAM in self.upstreams:
            targets = {BOUNCE_UPSTREAM: [sender]}
        else:
            log.warning("spool %s: no DSN to <%s>: set bounce_via to reach outside senders",
                        message.spool_id, sender)
            return
        raw = await asyncio.to_thread(self.spool.read_head, message.spool_id)
        dsn = make_dsn(hostname=self.hostname, mail_from=sender, upstream=upstream,
                       failures=failures, original=raw)
        spool_id = new_spool_id()
        bounce = SpooledMessage(spool_id, "", time.time(), len(dsn), is_bounce=True)
        for name, recipients in targets.items():
            for recipient in recipients:
                bounce.route(name, recipient)  # in its envelope too: it survives a restart
        await asyncio.to_thread(self.spool.store, bounce, dsn)
        self._messages[spool_id] = bounce
        assert self._deliverer is not None
        for delivery in bounce.deliveries.values():
            self._deliverer.schedule(delivery)

    async def _housekeeping(self) -> None:
        last_metrics = time.monotonic()
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                await asyncio.to_thread(self.spool.sync)
            except OSError as exc:
                self.spool.journal_trouble.failed(exc)
            self._write_status()
            if time.monotonic() - last_metrics >= METRICS_LOG_SECONDS:
                last_metrics = time.monotonic()
                log.info("metrics: %s", json.dumps(self.metrics.as_dict()))

    def _write_status(self) -> None:
        pending = self._deliverer.pending_counts() if self._deliverer else {}
        try:
            write_json(self.spool.delivery_status_path, {
                "pid": os.getpid(), "metrics": self.metrics.as_dict(), "pending": pending})
        except OSError as exc:
            self._status_trouble.failed(exc)
        else:
            self._status_trouble.ok()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(DeliveryService(load(Path(argv[0])).relay).run())
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
