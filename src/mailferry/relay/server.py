"""The SMTP side: policy for aiosmtpd (which domains, AUTH, limits) and the Received header.

aiosmtpd does the protocol (syntax errors get 500/501, SIZE and the data limit 552);
this module decides: RCPT outside the migration's domains -> 550 (not an open relay),
DATA -> Received header prepended, message spooled and fsynced, then 250.
"""

from __future__ import annotations

import asyncio
import email.utils
import hmac
import logging
import re
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mailferry.errors import ConfigError
from mailferry.relay.spool import new_spool_id

log = logging.getLogger("mailferry.relay")

# local@domain, nothing that could break the envelope when we relay it
_ADDRESS = re.compile(r"^[^\s<>@]+@[^\s<>@]+$")
# (spool id, MAIL FROM, RCPT TOs, message bytes) -> returns once the message is durable
AcceptHook = Callable[[str, str, list[str], bytes], Awaitable[None]]


def load_auth_users(path: Path) -> dict[str, str]:
    """`user:password` lines (`#` comments allowed) -> {user: password}."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read auth_users: {exc}", where=str(path)) from None
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError("expected user:password", where=f"{path}:{number}")
        users[user.strip()] = password
    return users


class RelayHandler:
    """aiosmtpd handler: refuses foreign recipients, spools accepted mail."""

    def __init__(self, domains: tuple[str, ...], hostname: str, accept: AcceptHook,
                 auth_users: dict[str, str] | None) -> None:
        self.domains = frozenset(domains)
        self.hostname = hostname
        self.accept = accept
        self.auth_users = auth_users

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if address and not _ADDRESS.match(address):  # "" is the null sender of bounces
            return "553 5.1.7 malformed sender address"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if not _ADDRESS.match(address):
            return "553 5.1.3 malformed recipient address"
        if address.rpartition("@")[2].lower().rstrip(".") not in self.domains:
            return f"550 5.7.1 <{address}>: relay access denied"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.original_content is not None and envelope.mail_from is not None
        spool_id = new_spool_id()
        raw = self.received_header(session, envelope, spool_id) + envelope.original_content
        try:
            await self.accept(spool_id, envelope.mail_from, list(envelope.rcpt_tos), raw)
        except OSError as exc:  # disk full, spool gone: the client keeps the message
            log.error("spool write failed: %s", exc)
            return "451 4.3.0 cannot write to the spool, try again later"
        return f"250 2.0.0 OK queued as {spool_id}"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        if self.auth_users is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        expected = self.auth_users.get(user)
        ok = expected is not None and hmac.compare_digest(
            expected.encode(), auth_data.password)
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    def received_header(self, session: Session, envelope: Envelope, spool_id: str) -> bytes:
        peer = session.peer
        ip = peer[0] if isinstance(peer, tuple) else str(peer)
        protocol = "ESMTP" if session.extended_smtp else "SMTP"
        protocol += ("S" if session.ssl else "") + ("A" if session.authenticated else "")
        recipient = f"\r\n\tfor <{envelope.rcpt_tos[0]}>" if len(envelope.rcpt_tos) == 1 else ""
        date = email.utils.formatdate(localtime=True)
        return (f"Received: from {session.host_name or 'unknown'} ([{ip}])\r\n"
                f"\tby {self.hostname} (mailferry) with {protocol} id {spool_id}"
                f"{recipient}; {date}\r\n").encode("utf-8", "surrogateescape")


class ConnectionLimits:
    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.open: Counter[str] = Counter()
        self.active: set[SMTP] = set()  # closed by the relay when it stops

    def admit(self, client: str) -> str | None:
        """None if the client may connect (and counts it), else the 421 reply."""
        if sum(self.open.values()) >= self.total:
            return "421 4.7.0 too many connections, try again later"
        if self.open[client] >= self.per_client:
            return "421 4.7.0 too many connections from your address, try again later"
        self.open[client] += 1
        return None

    def release(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]


class LimitedSMTP(SMTP):
    """aiosmtpd's SMTP with per-client and total connection limits (421 when over)."""

    # RFC 5321 says 1000, but real mail has longer lines (the corpus: up to 24 KB) and the
    # old provider accepted them; refusing would bounce mail the user expects. 64 KiB.
    line_length_limit = 65536

    def __init__(self, handler: RelayHandler, limits: ConnectionLimits, **kwargs: Any) -> None:
        with warnings.catch_warnings():
            # AUTH without TLS is only configurable on a loopback listener (see settings)
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            super().__init__(handler, **kwargs)
        self._limits = limits
        self._client: str | None = None
        self._refused = False

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

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._client is not None:
            self._limits.release(self._client)
            self._limits.active.discard(self)
            self._client = None
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        return super().eof_received()
