"""The one URL type of mailferry: where a server is (IMAP, SMTP, LMTP) and how TLS starts.

    imap://alice@127.0.0.1:1143      a mailbox for `mailferry copy` (the user is required)
    imaps://imap.example:993         a provider's IMAP server in migration.toml (no user)
    submission://smtp.example:587    SMTP submission, STARTTLS
    lmtp://127.0.0.1:24              a relay upstream

A password is never accepted in a URL (process listings show it) and never echoed in an
error: every message shows the text through `redact.mask_url`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from mailferry.errors import ConfigError
from mailferry.redact import mask_url

# scheme -> (protocol, default port, how TLS starts)
SCHEMES: dict[str, tuple[str, int, str]] = {
    "imap": ("imap", 143, "starttls"),
    "imaps": ("imap", 993, "implicit"),
    "smtp": ("smtp", 25, "starttls"),
    "submission": ("smtp", 587, "starttls"),
    "smtps": ("smtp", 465, "implicit"),
    "submissions": ("smtp", 465, "implicit"),
    "lmtp": ("lmtp", 24, "starttls"),
}


def schemes_of(protocol: str) -> tuple[str, ...]:
    """The schemes of one protocol: "smtp" -> smtp, submission, smtps, submissions."""
    return tuple(scheme for scheme, (kind, _, _) in SCHEMES.items() if kind == protocol)


class InvalidURL(ConfigError, ValueError):
    """A URL we cannot accept: bad input (exit 2), and a ValueError for validators that
    turn it into an error naming file and line."""


@dataclass(frozen=True)
class ServerURL:
    """A parsed server URL. `user` is set only for a mailbox URL (`imap://user@host`);
    `tls_required` only for a relay upstream written with `tls = "required"`."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    tls_required: bool = False

    @classmethod
    def parse(cls, text: str, *, schemes: Iterable[str] = SCHEMES,
              user: Literal["required", "forbidden"] = "forbidden",
              what: str = "") -> ServerURL:
        """Parse `text`; InvalidURL says what is wrong (after `what`, e.g. "source URL"),
        showing the URL without its password. `schemes` restricts the schemes accepted."""
        allowed = tuple(schemes)
        shown = f"{what} {mask_url(text)!r}" if what else repr(mask_url(text))

        def bad(reason: str) -> InvalidURL:
            return InvalidURL(f"{shown}: {reason}")

        # the parser's own words may quote the password ("... as 'secret'"): never shown
        try:
            parts = urlsplit(text.strip())
        except ValueError:
            raise bad("unparsable: expected scheme://host:port") from None
        try:
            port = parts.port
        except ValueError:
            raise bad("bad port (expected scheme://host:port, a number for the port)") from None
        scheme = parts.scheme.lower()
        if scheme not in allowed:
            raise bad(f"scheme must be one of {', '.join(sorted(allowed))}")
        if not parts.hostname:
            raise bad("no host")
        if parts.password is not None:
            raise bad("credentials do not belong in URLs (process listings show them): "
                      "passwords come from the environment or a password file")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise bad("unexpected path or query after host:port")
        if user == "required" and not parts.username:
            raise bad(f"no user ({scheme}://user@host:port)")
        if user == "forbidden" and parts.username:
            raise bad("no user here (logins are per user)")
        return cls(scheme, parts.hostname, port or SCHEMES[scheme][1],
                   unquote(parts.username) if parts.username else None)

    @property
    def protocol(self) -> str:
        """"imap", "smtp" or "lmtp"."""
        return SCHEMES[self.scheme][0]

    @property
    def tls(self) -> str:
        """"implicit" (TLS from the first byte) or "starttls"."""
        return SCHEMES[self.scheme][2]

    @property
    def implicit_tls(self) -> bool:
        return self.tls == "implicit"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def label(self) -> str:
        """The server, by protocol: `smtp://host:587` (for findings and error messages)."""
        return f"{self.protocol}://{self._host}:{self.port}"

    @property
    def _host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user is not None else ""
        return f"{self.scheme}://{user}{self._host}:{self.port}"
