"""The SMTP side's policy, as an aiosmtpd handler: who may say what, and the Received header.

aiosmtpd does the protocol (syntax errors get 500/501, SIZE 552); smtp_session.py adds
the limits and streams DATA to the spool; this module decides: HELO/EHLO must name a
domain or an address literal; RCPT outside the migration's domains -> 550 (not an open
relay); percent-hack and bang-path recipients -> 553; the Received header (never a control
character in it); the message spooled and fsynced, then 250.
"""

from __future__ import annotations

import email.utils
import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mailferry.errors import ConfigError
from mailferry.relay.spool import IncomingMessage, new_spool_id

log = logging.getLogger("mailferry.relay")

# local@domain: printable ASCII or UTF-8 (SMTPUTF8), nothing that could break the envelope
# or a header when we relay it
_ADDRESS = re.compile(r"^[^\s<>@\x00-\x1f\x7f]+@[^\s<>@\x00-\x1f\x7f]+$")
# a HELO name: a domain (underscores and a trailing dot tolerated, as real clients send)
_HELO_DOMAIN = re.compile(r"^(?=.{1,253}\.?$)[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
                          r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# (spool id, MAIL FROM, RCPT TOs, head) -> the message being written, head first
BeginHook = Callable[[str, str, list[str], bytes], IncomingMessage]
# the message, complete -> returns once it is durable (raises OSError if it cannot be)
CommitHook = Callable[[IncomingMessage], Awaitable[None]]


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


def valid_helo(name: str) -> bool:
    """A domain or an address literal ([192.0.2.1], [IPv6:2001:db8::1]), RFC 5321 4.1.3."""
    if name.startswith("[") and name.endswith("]"):
        literal = name[1:-1]
        if literal[:5].lower() == "ipv6:":
            literal = literal[5:]
            version = 6
        else:
            version = 4
        try:
            return ipaddress.ip_address(literal).version == version
        except ValueError:
            return False
    return bool(_HELO_DOMAIN.match(name))


def header_safe(text: str) -> str:
    """No control character (CR, LF above all) ever reaches a header we write."""
    return _CONTROL.sub("?", text)


class RelayHandler:
    """aiosmtpd handler: refuses foreign recipients, spools accepted mail.

    (aiosmtpd takes every `auth_*` attribute of a handler for an AUTH mechanism: none
    here, so only its real PLAIN and LOGIN are offered.)"""

    def __init__(self, domains: tuple[str, ...], hostname: str, begin: BeginHook,
                 commit: CommitHook, users: dict[str, str] | None) -> None:
        self.domains = frozenset(domains)
        self.hostname = hostname
        self.begin = begin
        self.commit = commit
        self.users = users

    async def handle_HELO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str) -> str:
        if not valid_helo(hostname):
            return "501 5.5.4 HELO needs a domain name or an address literal"
        session.host_name = hostname
        return f"250 {self.hostname}"

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        if not valid_helo(hostname):
            session.host_name = None
            return ["501 5.5.4 EHLO needs a domain name or an address literal"]
        session.host_name = hostname
        return responses

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
        local, _, domain = address.rpartition("@")
        if "%" in local or "!" in local:  # routing through us to somewhere else
            return "553 5.7.1 percent-hack and bang-path addresses are not accepted"
        if domain.lower().rstrip(".") not in self.domains:
            return f"550 5.7.1 <{address}>: relay access denied"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def begin_data(self, session: Session, envelope: Envelope) -> IncomingMessage:
        """The spool file the data goes to (raises OSError when the spool refuses)."""
        assert envelope.mail_from is not None
        spool_id = new_spool_id()
        head = self.received_header(session, envelope, spool_id)
        return self.begin(spool_id, envelope.mail_from, list(envelope.rcpt_tos), head)

    async def end_data(self, incoming: IncomingMessage) -> str:
        try:
            await self.commit(incoming)
        except OSError as exc:  # disk full, spool gone: the client keeps the message
            log.error("spool write failed: %s", exc)
            return "451 4.3.0 cannot write to the spool, try again later"
        return f"250 2.0.0 OK queued as {incoming.message.spool_id}"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        if self.users is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        expected = self.users.get(user)
        ok = expected is not None and hmac.compare_digest(
            expected.encode(), auth_data.password)
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    def received_header(self, session: Session, envelope: Envelope, spool_id: str) -> bytes:
        peer = session.peer
        ip = peer[0] if isinstance(peer, tuple) else str(peer)
        protocol = "ESMTP" if session.extended_smtp else "SMTP"
        protocol += ("S" if session.ssl else "") + ("A" if session.authenticated else "")
        recipient = (f"\r\n\tfor <{header_safe(envelope.rcpt_tos[0])}>"
                     if len(envelope.rcpt_tos) == 1 else "")
        date = email.utils.formatdate(localtime=True)
        return (f"Received: from {header_safe(session.host_name or 'unknown')} "
                f"([{header_safe(ip)}])\r\n"
                f"\tby {header_safe(self.hostname)} (mailferry) with {protocol} id {spool_id}"
                f"{recipient}"
                f"; {date}\r\n").encode("utf-8", "surrogateescape")
