"""SMTP submission of notices (stdlib smtplib): STARTTLS with a verified certificate (or
implicit TLS for smtps://), AUTH when [notify] smtp_user is set, one connection reused.
A server without STARTTLS gets nothing unless it is on loopback (invariant 6). Socket, TLS
and SMTP errors are translated here, once: a refusal of one notice is `Refused` (4xx:
`temporary`), a server we cannot use is a `ConnectError`."""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from mailferry.errors import (
    AuthenticationFailed,
    CertificateError,
    ConnectError,
    InsecureConnection,
)
from mailferry.urls import ServerURL

TIMEOUT = 60.0


class Refused(Exception):
    """The server refused one notice: `code` and its words."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Submitter:
    def __init__(self, endpoint: ServerURL, *, user: str | None = None,
                 password: str | None = None, ca_file: Path | None = None) -> None:
        self.endpoint = endpoint
        self._user = user
        self._password = password
        self._context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._smtp: smtplib.SMTP | None = None

    @property
    def label(self) -> str:
        return self.endpoint.label

    def _connect(self) -> smtplib.SMTP:
        host, port = self.endpoint.host, self.endpoint.port
        try:
            smtp: smtplib.SMTP
            if self.endpoint.tls == "implicit":
                smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=self._context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=TIMEOUT)
            smtp.ehlo()
            if self.endpoint.tls != "implicit":
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                elif not _loopback(host):
                    smtp.close()
                    raise InsecureConnection("the server offers no STARTTLS: notices are not "
                                             "sent in cleartext", server=self.label,
                                             command="STARTTLS")
            if self._user:
                smtp.login(self._user, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthenticationFailed(f"login refused: {exc.smtp_code}", server=self.label,
                                       command="AUTH") from None
        except ssl.SSLCertVerificationError as exc:
            raise CertificateError(f"certificate not trusted: {exc.verify_message}",
                                   server=self.label, command="STARTTLS") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectError(f"cannot submit: {_describe(exc)}", server=self.label,
                               command="EHLO") from None
        return smtp

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Submit one message to one recipient; `Refused` or `ConnectError` if not taken.
        A connection the server dropped since the last message is opened again once."""
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                raise Refused(code, _text(text)) from None
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                self._reset()
                raise Refused(exc.smtp_code, _text(exc.smtp_error)) from None
            except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise ConnectError(f"connection lost: {_describe(exc)}", server=self.label,
                                       command="DATA") from None

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
