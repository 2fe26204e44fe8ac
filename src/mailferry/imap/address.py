"""Where and how to reach an IMAP account: the URL, the credentials, the TLS policy."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote, urlsplit

from mailferry.errors import ConfigError
from mailferry.redact import mask_url

DEFAULT_PORTS = {"imap": 143, "imaps": 993}


@dataclass(frozen=True)
class Endpoint:
    """`imap://user@host:port` (STARTTLS when offered) or `imaps://user@host:port`."""

    scheme: str
    host: str
    port: int
    user: str

    @classmethod
    def parse(cls, url: str, *, what: str = "URL") -> Endpoint:
        shown = mask_url(url)  # never echo a password the user put in the URL
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # its words may quote the password ("... as 'secret'"): not shown
            raise ConfigError(f"unparsable {what} {shown!r}: expected imap://user@host:port "
                              "(a number for the port)") from None
        if parts.scheme not in DEFAULT_PORTS:
            raise ConfigError(f"{what} {shown!r}: scheme must be imap:// or imaps://")
        if not parts.hostname:
            raise ConfigError(f"{what} {shown!r}: no host")
        if parts.password is not None:
            raise ConfigError(
                f"{what} {shown!r}: passwords do not belong in URLs (process listings show"
                " them); use the environment variable or --*-password-file")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"{what} {shown!r}: unexpected path or query after host:port")
        if not parts.username:
            raise ConfigError(f"{what} {shown!r}: no user (imap://user@host:port)")
        return cls(parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme],
                   unquote(parts.username))

    @property
    def implicit_tls(self) -> bool:
        return self.scheme == "imaps"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{self.user}@{host}:{self.port}"


@dataclass(frozen=True)
class TlsPolicy:
    verify: bool = True  # --insecure turns this off
    allow_plaintext: bool = False  # cleartext login to a non-loopback host
    ca_file: str | None = None


@dataclass(frozen=True)
class Credentials:
    """How to log in. The secret is held here only, never in repr, logs or state.

    mechanism: "password" (AUTHENTICATE PLAIN when offered, else LOGIN), "master" (SASL
    PLAIN with `user` as authorization identity and `login_user`'s password), "xoauth2".
    """

    user: str
    secret: str = field(repr=False)
    mechanism: str = "password"
    login_user: str | None = None  # the admin/master user for mechanism "master"
    # returns a fresh token for xoauth2 when the current one expired
    refresh: Callable[[], str] | None = field(default=None, repr=False, compare=False)


class WriteGuard(Protocol):
    """Asked before each piece of a command that changes the mailbox is sent; raises (a
    MailferryError) to refuse it. A lease on the mailbox is one (store.HeldLease)."""

    def check(self) -> None: ...


@dataclass(frozen=True)
class Account:
    """Everything needed to open a session on one mailbox. With a `write_guard`, no command
    that changes the mailbox is sent unless the guard allows it at that moment."""

    endpoint: Endpoint
    credentials: Credentials
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    write_guard: WriteGuard | None = field(default=None, repr=False, compare=False)
