"""A small IMAP/SMTP probe: connect, start TLS as the URL says, read the certificate and
the capabilities, optionally log in (IMAP lists most capabilities only after login), leave.

Speaks just enough protocol over a plain socket to do that, so the check does not depend
on the IMAP session package. Failures come back as data in `ProbeResult`, never raised.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from typing import BinaryIO

from mailferry.urls import ServerURL


@dataclass
class ProbeResult:
    address: str
    reachable: bool = False
    error: str | None = None  # why it is not reachable, or what failed after connecting
    tls_verified: bool | None = None  # None: TLS never started
    tls_error: str | None = None
    not_after: dt.datetime | None = None
    capabilities: list[str] | None = None
    after_login: bool = False
    login_error: str | None = None


@dataclass(frozen=True)
class Login:
    user: str
    password: str = field(repr=False)


class _Closed(Exception):
    pass


class _Lines:
    """Reads and writes CRLF lines on a socket; switches to TLS in place."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._file: BinaryIO = sock.makefile("rb")

    def start_tls(self, host: str, context: ssl.SSLContext, result: ProbeResult) -> bool:
        """Wrap the socket; record the certificate's verdict and expiry in `result`."""
        self._file.close()
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            result.tls_verified, result.tls_error = False, exc.verify_message or str(exc)
            return False
        except (ssl.SSLError, OSError) as exc:
            result.tls_verified, result.tls_error = False, f"TLS handshake failed: {exc}"
            return False
        self._file = self.sock.makefile("rb")
        result.tls_verified = True
        cert = self.sock.getpeercert() if isinstance(self.sock, ssl.SSLSocket) else None
        if cert and "notAfter" in cert:
            seconds = ssl.cert_time_to_seconds(str(cert["notAfter"]))
            result.not_after = dt.datetime.fromtimestamp(seconds, dt.UTC)
        return True

    def close(self) -> None:
        self._file.close()
        self.sock.close()

    def readline(self) -> str:
        line = self._file.readline(65536)
        if not line:
            raise _Closed("the server closed the connection")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")


def probe(endpoint: ServerURL, address: str, *, ca_file: str | None = None,
          timeout: float = 5.0, login: Login | None = None) -> ProbeResult:
    """Probe `endpoint` at `address` (already resolved), verifying TLS for `endpoint.host`."""
    result = ProbeResult(address)
    try:
        sock = socket.create_connection((address, endpoint.port), timeout=timeout)
    except OSError as exc:
        result.error = f"cannot connect to {address}:{endpoint.port}: {exc.strerror or exc}"
        return result
    result.reachable = True
    context = ssl.create_default_context(cafile=ca_file)
    lines = _Lines(sock)
    try:
        talk = _imap if endpoint.protocol == "imap" else _smtp
        talk(endpoint, lines, context, result, login)
    except (OSError, _Closed, ValueError) as exc:
        result.error = str(exc) or type(exc).__name__
    finally:
        lines.close()
    return result


def _may_send_password(address: str, tls: bool) -> bool:
    # invariant 6: no cleartext password to anything but loopback
    try:
        return tls or ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name the socket resolved: not known to be loopback
        return False


# -- IMAP ---------------------------------------------------------------------------------

def _imap_command(lines: _Lines, tag: str, command: str) -> tuple[list[str], str]:
    lines.send(f"{tag} {command}")
    untagged: list[str] = []
    while True:
        line = lines.readline()
        if line.startswith(f"{tag} "):
            return untagged, line[len(tag) + 1:]
        untagged.append(line)


def _imap_capabilities(lines: _Lines) -> list[str]:
    untagged, _ = _imap_command(lines, "c1", "CAPABILITY")
    for line in untagged:
        if line.upper().startswith("* CAPABILITY "):
            return sorted(set(line.split()[2:]))
    return []


def _imap(endpoint: ServerURL, lines: _Lines, context: ssl.SSLContext, result: ProbeResult,
          login: Login | None) -> None:
    if endpoint.tls == "implicit" and not lines.start_tls(endpoint.host, context, result):
        return
    if not lines.readline().upper().startswith(("* OK", "* PREAUTH")):
        raise ValueError("no IMAP greeting")
    if endpoint.tls == "starttls":
        if "STARTTLS" not in _imap_capabilities(lines):
            result.tls_verified, result.tls_error = False, "the server does not offer STARTTLS"
        else:
            _, status = _imap_command(lines, "s1", "STARTTLS")
            if not status.upper().startswith("OK"):
                result.tls_verified, result.tls_error = False, f"STARTTLS refused: {status}"
                return
            if not lines.start_tls(endpoint.host, context, result):
                return
    result.capabilities = _imap_capabilities(lines)
    if login is not None and _may_send_password(result.address, bool(result.tls_verified)):
        _, status = _imap_command(lines, "l1", f"LOGIN {_quote(login.user)} "
                                               f"{_quote(login.password)}")
        if status.upper().startswith("OK"):
            result.capabilities, result.after_login = _imap_capabilities(lines), True
        else:
            result.login_error = status
    _imap_command(lines, "z1", "LOGOUT")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- SMTP ---------------------------------------------------------------------------------

def _smtp_reply(lines: _Lines) -> tuple[int, list[str]]:
    texts = []
    while True:
        line = lines.readline()
        if len(line) < 3 or not line[:3].isdigit():
            raise ValueError(f"not an SMTP reply: {line[:80]!r}")
        texts.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), texts


def _ehlo(lines: _Lines) -> list[str]:
    lines.send("EHLO mailferry.invalid")
    code, texts = _smtp_reply(lines)
    if code != 250:
        raise ValueError(f"EHLO refused: {code} {' '.join(texts)}")
    return sorted({t.split()[0].upper() for t in texts[1:] if t})


def _smtp(endpoint: ServerURL, lines: _Lines, context: ssl.SSLContext, result: ProbeResult,
          login: Login | None) -> None:
    if endpoint.tls == "implicit" and not lines.start_tls(endpoint.host, context, result):
        return
    code, texts = _smtp_reply(lines)
    if code != 220:
        raise ValueError(f"SMTP greeting {code} {' '.join(texts)}")
    extensions = _ehlo(lines)
    if endpoint.tls == "starttls":
        if "STARTTLS" not in extensions:
            result.tls_verified, result.tls_error = False, "the server does not offer STARTTLS"
        else:
            lines.send("STARTTLS")
            code, texts = _smtp_reply(lines)
            if code != 220:
                result.tls_verified, result.tls_error = False, f"STARTTLS refused: {code}"
                return
            if not lines.start_tls(endpoint.host, context, result):
                return
            extensions = _ehlo(lines)
    result.capabilities = extensions
    lines.send("QUIT")
