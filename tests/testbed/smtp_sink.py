"""A real SMTP server on 127.0.0.1 (aiosmtpd in a thread) that keeps what it receives.

For tests of SMTP clients such as the relay: STARTTLS (`tls=True`) or implicit TLS
(`implicit_tls=True`) with the test CA's certificate (or `cert=(cert, key)`, e.g.
`shared_certs().pair("expired")`), temporary failures on demand
(`defer_first=N` answers 451 to the first N DATA), and the envelope and bytes of every
message it accepted in `received`.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

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
    received: list[Received] = field(default_factory=list)
    deferred: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.deferred < self.defer_first:
                self.deferred += 1
                return "451 4.3.0 try again later"
            assert envelope.original_content is not None and envelope.mail_from is not None
            tls = server.transport.get_extra_info("ssl_object") is not None  # either kind
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos),
                                          envelope.original_content, tls))
        return "250 2.0.0 stored"


class SmtpSink:
    def __init__(self, *, tls: bool = False, implicit_tls: bool = False,
                 defer_first: int = 0, cert: tuple[Path, Path] | None = None) -> None:
        certs = shared_certs()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*(cert or (certs.server_cert, certs.server_key)))
        self.port = free_port()
        self._handler = _Handler(defer_first)
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port,
            ssl_context=context if implicit_tls else None,
            tls_context=context if tls else None, data_size_limit=None)

    @property
    def received(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    @property
    def deferred(self) -> int:
        return self._handler.deferred

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
