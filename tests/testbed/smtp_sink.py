"""A real SMTP server on 127.0.0.1 (aiosmtpd in a thread) that keeps what it receives.

For tests of SMTP clients such as the relay: STARTTLS (`tls=True`) or implicit TLS
(`implicit_tls=True`) with the test CA's certificate (or `cert=(cert, key)`, e.g.
`shared_certs().pair("expired")`), temporary failures on demand
(`defer_first=N` answers 451 to the first N DATA), recipients it refuses with 550
(`reject={...}`), a required AUTH login (`auth=(user, password)`, over TLS only), a message
held in flight (`hold_after=N`: the message after the first N is stored, then its 250 waits
for `release()`, so a client can be killed mid-submission), and the envelope and bytes of
every message it accepted in `received`.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from testbed.dovecot import shared_certs
from testbed.net import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool


@dataclass
class _Handler:
    defer_first: int
    reject: frozenset[str] = frozenset()
    hold_after: int | None = None
    received: list[Received] = field(default_factory=list)
    deferred: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.reject:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.deferred < self.defer_first:
                self.deferred += 1
                return "451 4.3.0 try again later"
            assert envelope.original_content is not None and envelope.mail_from is not None
            tls = server.transport.get_extra_info("ssl_object") is not None  # either kind
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos),
                                          envelope.original_content, tls))
            hold = self.hold_after is not None and len(self.received) > self.hold_after
        while hold and not self.released.is_set():
            await asyncio.sleep(0.02)
        return "250 2.0.0 stored"


class SmtpSink:
    def __init__(self, *, tls: bool = False, implicit_tls: bool = False,
                 defer_first: int = 0, cert: tuple[Path, Path] | None = None,
                 reject: frozenset[str] = frozenset(), auth: tuple[str, str] | None = None,
                 hold_after: int | None = None) -> None:
        certs = shared_certs()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*(cert or (certs.server_cert, certs.server_key)))
        self.port = free_port()
        self._handler = _Handler(defer_first, reject, hold_after)
        login: dict[str, Any] = {}
        if auth is not None:
            login = dict(authenticator=_Authenticator(*auth), auth_required=True,
                         auth_require_tls=True)
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port,
            ssl_context=context if implicit_tls else None,
            tls_context=context if tls else None, data_size_limit=None, **login)

    @property
    def received(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    def release(self) -> None:
        """Let a held message (hold_after) get its 250."""
        self._handler.released.set()

    @property
    def deferred(self) -> int:
        return self._handler.deferred

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.release()
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class _Authenticator:
    user: str
    password: str

    def __call__(self, server: Any, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user.encode()
              and auth_data.password == self.password.encode())
        return AuthResult(success=ok, handled=False)
