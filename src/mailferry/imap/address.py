"""Where and how to reach an IMAP account: the URL, the credentials, the TLS policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mailferry.urls import ServerURL

MAILBOX_SCHEMES = ("imap", "imaps")


def parse_mailbox_url(url: str, *, what: str = "URL") -> ServerURL:
    """`imap://user@host:port` (STARTTLS when offered) or `imaps://user@host:port`;
    `urls.InvalidURL` (a ConfigError) names what is wrong, never showing a password."""
    return ServerURL.parse(url, schemes=MAILBOX_SCHEMES, user="required", what=what)


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

    endpoint: ServerURL  # with the user: imap://user@host:port
    credentials: Credentials
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    write_guard: WriteGuard | None = field(default=None, repr=False, compare=False)
