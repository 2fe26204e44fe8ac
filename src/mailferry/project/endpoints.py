"""Server endpoints written as URLs in migration.toml: `imaps://imap.example:993`,
`smtp://mx.example:25`. The scheme says the protocol and how TLS starts."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mailferry.redact import mask_url

# scheme -> (protocol, default port, TLS mode)
SCHEMES: dict[str, tuple[str, int, str]] = {
    "imap": ("imap", 143, "starttls"),
    "imaps": ("imap", 993, "implicit"),
    "smtp": ("smtp", 25, "starttls"),
    "submission": ("smtp", 587, "starttls"),
    "smtps": ("smtp", 465, "implicit"),
    "submissions": ("smtp", 465, "implicit"),
}


@dataclass(frozen=True)
class Endpoint:
    url: str
    protocol: str  # "imap" or "smtp"
    host: str
    port: int
    tls: str  # "implicit" or "starttls"

    @property
    def label(self) -> str:
        return f"{self.protocol}://{self.host}:{self.port}"


def parse_endpoint(url: str, protocol: str | None = None) -> Endpoint:
    """Parse `url`; ValueError says what is wrong (a password in it never shown).
    `protocol` restricts the schemes."""
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"{shown!r}: unparsable: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or (protocol and SCHEMES[scheme][0] != protocol):
        allowed = sorted(s for s, v in SCHEMES.items() if not protocol or v[0] == protocol)
        raise ValueError(f"{shown!r}: scheme must be one of {', '.join(allowed)}")
    if not parts.hostname:
        raise ValueError(f"{shown!r}: no host")
    if parts.username or parts.password:
        raise ValueError(f"{shown!r}: no user or password here (they are per user)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{shown!r}: only scheme://host:port is allowed here")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown!r}: bad port") from None
    kind, default_port, tls = SCHEMES[scheme]
    return Endpoint(url, kind, parts.hostname, port or default_port, tls)
