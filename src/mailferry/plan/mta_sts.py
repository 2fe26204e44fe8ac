"""MTA-STS (RFC 8461): the policy a domain publishes at
https://mta-sts.DOMAIN/.well-known/mta-sts.txt, fetched with a verified certificate and
no redirects (the RFC forbids following them), at the address the check's resolver gave
(so private test beds and split DNS work)."""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

POLICY_PATH = "/.well-known/mta-sts.txt"
MAX_POLICY = 64 * 1024  # RFC 8461 3.3: senders may limit the size; 64 KiB is generous


@dataclass(frozen=True)
class Policy:
    mode: str  # enforce, testing, none
    mx: tuple[str, ...]  # patterns: "mx.example" or "*.example"
    max_age: int | None


class PolicyError(Exception):
    """The policy could not be fetched or read: the fact is unknown."""


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to `address`, with SNI and certificate checks for the host name."""

    def __init__(self, host: str, address: str, port: int, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def parse_policy(text: str) -> Policy:
    """`key: value` lines (CRLF or LF); ValueError when it is not a version STSv1 policy."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        raise ValueError("not an STSv1 policy (version: STSv1 missing)")
    mode = (fields.get("mode") or [""])[0].lower()
    if mode not in ("enforce", "testing", "none"):
        raise ValueError(f"mode {mode!r} is not enforce, testing or none")
    age = (fields.get("max_age") or [""])[0]
    return Policy(mode, tuple(m.lower().rstrip(".") for m in fields.get("mx", [])),
                  int(age) if age.isdigit() else None)


def fetch_policy(domain: str, address: str, *, port: int = 443, ca_file: str | None = None,
                 timeout: float = 5.0) -> Policy:
    """The policy of `domain` from its policy host, reached at `address` (resolved by the
    caller through the check's resolver) with that host's name for SNI and certificate."""
    host = f"mta-sts.{domain}"
    context = ssl.create_default_context(cafile=ca_file)
    connection = _PinnedHTTPS(host, address, port, context, timeout)
    try:
        connection.request("GET", POLICY_PATH, headers={"Host": host})
        response = connection.getresponse()
        if response.status != 200:
            raise PolicyError(f"https://{host}{POLICY_PATH}: HTTP {response.status}")
        body = response.read(MAX_POLICY + 1)
    except ssl.SSLCertVerificationError as exc:
        raise PolicyError(f"{host}: certificate not trusted ({exc.verify_message})") from None
    except (OSError, http.client.HTTPException) as exc:
        raise PolicyError(f"https://{host}{POLICY_PATH}: {exc or type(exc).__name__}") from None
    finally:
        connection.close()
    if len(body) > MAX_POLICY:
        raise PolicyError(f"https://{host}{POLICY_PATH}: larger than {MAX_POLICY} bytes")
    try:
        return parse_policy(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PolicyError(f"https://{host}{POLICY_PATH}: {exc}") from None


def mx_covered(host: str, patterns: tuple[str, ...]) -> bool:
    """RFC 8461 4.1: a pattern matches the host exactly, or "*.x" matches one label + x."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            label, _, rest = host.partition(".")
            if label and rest == pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False
