"""aiosmtpd's SMTP session, hardened for a relay that faces the internet.

- Connection limits: per client address and in total (421 when over). When every slot is
  taken, a newcomer evicts the connection that has kept the relay waiting longest (no
  complete command or data line for IDLE_UNDER_PRESSURE seconds while it was the client's
  turn): clients that trickle bytes lose their slots to real senders, which answer in
  milliseconds. Each command must also arrive within COMMAND_TIMEOUT.
- DATA is written to the spool as it arrives (memory per connection stays at a line and
  a write buffer, whatever the message size), and refused with 550 if it holds a bare CR
  or bare LF (RFC 5321 2.3.8): a lenient upstream could read `<LF>.<LF>` or `<CR>.<CR><LF>`
  as the end of the data and a second, forged message after it (SMTP smuggling).
- AUTH: MAX_AUTH_FAILURES failed attempts close the connection; an address with
  ADDRESS_AUTH_FAILURES failures in AUTH_FAILURE_WINDOW is refused AUTH (454) until they
  age out, and every failure costs AUTH_FAILURE_DELAY before the next command is read.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, syntax

from mailferry.relay.spool import IncomingMessage

if TYPE_CHECKING:
    from mailferry.relay.server import RelayHandler

log = logging.getLogger("mailferry.relay")

COMMAND_TIMEOUT = 60.0  # seconds for a client to send its next command (or data line)
IDLE_UNDER_PRESSURE = 2.0  # silent this long while all slots are taken: evicted
MAX_AUTH_FAILURES = 3  # per connection, then 421 and close
ADDRESS_AUTH_FAILURES = 6  # per client address within the window, then AUTH is refused
AUTH_FAILURE_WINDOW = 600.0
AUTH_FAILURE_DELAY = 0.5  # seconds before the next command is read after a failure
MAX_TRACKED_ADDRESSES = 10_000  # failure records kept; beyond, stale ones are dropped


class ConnectionLimits:
    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.open: Counter[str] = Counter()
        self.active: set[RelaySMTP] = set()  # closed by the relay when it stops

    def admit(self, client: str) -> str | None:
        """None if the client may connect now, else the 421 reply to give it."""
        if self.open[client] >= self.per_client:
            return "421 4.7.0 too many connections from your address, try again later"
        if sum(self.open.values()) >= self.total:
            victim = self._idlest()
            if victim is None:
                return "421 4.3.2 too many connections, try again later"
            victim.evict()
        self.open[client] += 1
        return None

    def _idlest(self) -> RelaySMTP | None:
        silent = [p for p in self.active if p.silent_for() >= IDLE_UNDER_PRESSURE]
        return max(silent, key=lambda p: p.silent_for(), default=None)

    def release(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]


class AuthGuard:
    """Failed AUTH attempts per client address, over a sliding window."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def failed(self, client: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= MAX_TRACKED_ADDRESSES:  # many addresses: forget old ones
            self._failures = {address: failures for address, failures in self._failures.items()
                              if now - failures[-1] <= AUTH_FAILURE_WINDOW}
        self._failures.setdefault(client, deque()).append(now)

    def locked(self, client: str) -> bool:
        failures = self._failures.get(client)
        if failures is None:
            return False
        while failures and time.monotonic() - failures[0] > AUTH_FAILURE_WINDOW:
            failures.popleft()
        if not failures:
            del self._failures[client]
        return len(failures) >= ADDRESS_AUTH_FAILURES


class RelaySMTP(SMTP):
    """aiosmtpd's SMTP with the limits above; policy stays in the handler (server.py)."""

    # RFC 5321 says 1000, but real mail has longer lines (the corpus: up to 24 KB) and the
    # old provider accepted them; refusing would bounce mail the user expects. 64 KiB.
    line_length_limit = 65536

    def __init__(self, handler: RelayHandler, limits: ConnectionLimits, guard: AuthGuard,
                 **kwargs: Any) -> None:
        with warnings.catch_warnings():
            # AUTH without TLS is only configurable on a loopback listener (see settings)
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            super().__init__(handler, timeout=COMMAND_TIMEOUT, **kwargs)
        self.relay_handler = handler
        self._limits = limits
        self._guard = guard
        self._client: str | None = None
        self._refused = False
        self._evicted = False
        self._auth_failures = 0
        self._last_heard = time.monotonic()
        self._clients_turn = False  # we wait for a line from the client (not it for us)

    # -- slots --------------------------------------------------------------------------

    def silent_for(self) -> float:
        """How long the client has kept us waiting (0 while it waits for us)."""
        return time.monotonic() - self._last_heard if self._clients_turn else 0.0

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd calls this when a complete command arrived: now it is our turn
        self._clients_turn = False
        super()._reset_timeout(duration)

    def evict(self) -> None:
        """Give this connection's slot to a newcomer (it was silent too long)."""
        if self._client is not None:
            log.info("%s: silent for %.0fs while all slots are taken: closing", self._client,
                     self.silent_for())
            self._release()
        self._evicted = True
        if self.transport is not None:
            assert isinstance(self.transport, asyncio.WriteTransport)
            self.transport.write(b"421 4.4.2 idle too long, closing connection\r\n")
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the second call after STARTTLS
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if isinstance(peer, tuple) else str(peer)
            refusal = self._limits.admit(client)
            if refusal is not None:
                self._refused = True
                log.warning("%s: %s", client, refusal)
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(refusal.encode() + b"\r\n")
                transport.close()
                return
            self._client = client
            self._limits.active.add(self)
        super().connection_made(transport)

    def _release(self) -> None:
        if self._client is not None:
            self._limits.release(self._client)
            self._limits.active.discard(self)
            self._client = None

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self._release()
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        return super().eof_received()

    async def push(self, status: Any) -> None:
        self._last_heard = time.monotonic()  # the client's turn starts now
        self._clients_turn = True
        await super().push(status)

    # -- AUTH -----------------------------------------------------------------------------

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        client = self._client or "?"
        if self._guard.locked(client):
            await self.push("454 4.7.0 too many failed authentications from your address, "
                            "try again later")
            return
        await super().smtp_AUTH(arg)
        if self.session is None or self.session.authenticated:
            return
        self._auth_failures += 1
        self._guard.failed(client)
        log.warning("%s: failed AUTH (%d on this connection)", client, self._auth_failures)
        if self._auth_failures >= MAX_AUTH_FAILURES and self.transport is not None:
            await self.push("421 4.7.0 too many failed authentications, closing connection")
            self.transport.close()
            return
        await asyncio.sleep(AUTH_FAILURE_DELAY)

    # -- DATA -----------------------------------------------------------------------------

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None and self.session is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        try:
            incoming = self.relay_handler.begin_data(self.session, self.envelope)
        except OSError as exc:  # disk full, spool gone: the client keeps the message
            log.error("spool write failed: %s", exc)
            await self.push("451 4.3.0 cannot write to the spool, try again later")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            refusal = await self._receive(incoming)
        except BaseException:
            incoming.abort()
            raise
        if refusal is not None:
            incoming.abort()
            status = refusal
        else:
            status = await self.relay_handler.end_data(incoming)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    async def _receive(self, incoming: IncomingMessage) -> str | None:
        """Read the data into `incoming` up to the lone dot; the refusal to give, if any
        (the data is read to its end all the same, RFC 5321 4.2.5)."""
        limit = self.data_size_limit
        size = 0
        refusal: str | None = None
        timer_reset_at = time.monotonic()
        while True:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as exc:
                await self._reader.read(exc.consumed)
                refusal = refusal or "500 5.5.6 line too long"
                continue
            if line == b".\r\n":
                self._reset_timeout()
                return refusal
            self._last_heard = now = time.monotonic()
            if now - timer_reset_at >= 1.0:  # a timer per line would cost more than the line
                super()._reset_timeout()
                timer_reset_at = now
            size += len(line)
            if refusal is not None:
                continue
            if limit and size > limit:
                refusal = "552 5.3.4 message too big"
            elif b"\r" in line[:-2] or b"\n" in line[:-2]:
                refusal = ("550 5.6.11 bare CR or LF in the message: lines must end with "
                           "CRLF (RFC 5321 2.3.8)")
            else:
                incoming.write(line[1:] if line.startswith(b".") else line)
