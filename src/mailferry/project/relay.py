"""The relay's view of migration.toml (`ProjectFile.relay`): the [relay] section alone,
so the relay runs from a file that holds nothing else, or from the whole migration.

    [relay]
    listen = "127.0.0.1:2525"
    spool = "./spool"
    domains = ["bank.example"]
    old = "lmtp://127.0.0.1:24001"          # smtp://host:port, smtps://…, lmtp://host:port
    new = "lmtp://127.0.0.1:24002"
    # or, to refuse delivering to it without verified TLS:
    # new = { url = "smtp://mx.new.example:25", tls = "required" }
    default_route = "old"
    routes = "routes.csv"                    # address,route   with route one of old, new, both

Paths (spool, routes, auth_users, TLS files) are relative to the migration.toml's directory.
Durations are seconds or strings such as "30s", "15m", "4h", "5d".
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mailferry.project.tomlfile import Field, TomlFile
from mailferry.urls import ServerURL

ROUTES = ("old", "new", "both")
UPSTREAM_NAMES = ("old", "new")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class RelaySettings:
    listen_host: str
    listen_port: int
    spool: Path
    domains: tuple[str, ...]
    upstreams: dict[str, ServerURL]  # "old"/"new" -> URL; at least one
    default_route: str
    routes: Path | None
    hostname: str | None  # in the greeting and the Received header; None: this host's FQDN
    max_message_size: int
    max_connections: int
    max_connections_per_client: int
    upstream_connections: int  # concurrent deliveries per upstream
    retry_initial: float
    retry_max: float
    max_age: float
    tls_verify: bool
    ca_file: Path | None
    tls_cert: Path | None  # offer STARTTLS to clients with this certificate
    tls_key: Path | None
    auth_users: Path | None  # "user:password" lines; when set, AUTH is required
    bounce_via: ServerURL | None  # where DSNs to senders outside `domains` go
    source: Path  # the migration.toml it came from

    @property
    def listens_on_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.listen_host).is_loopback
        except ValueError:
            return self.listen_host == "localhost"


UPSTREAM_SCHEMES = ("smtp", "smtps", "lmtp")


def parse_upstream_url(text: str) -> ServerURL:
    """`lmtp://127.0.0.1:24`, `smtp://mx.example:25`, `smtps://host`."""
    return ServerURL.parse(text, schemes=UPSTREAM_SCHEMES)


_UPSTREAM_TLS = ("opportunistic", "required")


def parse_upstream(value: str | dict[str, Any]) -> ServerURL:
    """An upstream: its URL, or a table `{ url = "…", tls = "required" }`."""
    if isinstance(value, str):
        return parse_upstream_url(value)
    unknown = set(value) - {"url", "tls"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (known: tls, url)")
    if not isinstance(value.get("url"), str):
        raise ValueError("url: expected a string such as smtp://mx.example:25")
    tls = value.get("tls", "opportunistic")
    if tls not in _UPSTREAM_TLS:
        raise ValueError(f"tls: {tls!r}: expected one of {', '.join(_UPSTREAM_TLS)}")
    return replace(parse_upstream_url(value["url"]), tls_required=tls == "required")


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: expected host:port, e.g. 127.0.0.1:2525")
    return host, int(port)


def parse_duration(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r}: expected seconds or a duration such as 30s, 15m, 4h, 5d")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r}: must be more than zero")
    return seconds


def _domains(value: list[str]) -> tuple[str, ...]:
    if not value:
        raise ValueError("list at least one domain")
    out = []
    for item in value:
        domain = item.strip().lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise ValueError(f"{item!r} is not a domain name")
        out.append(domain)
    return tuple(out)


def _route(value: str) -> str:
    if value not in ROUTES:
        raise ValueError(f"{value!r}: expected one of {', '.join(ROUTES)}")
    return value


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError(f"{value!r}: must be at least 1")
    return value


_FIELDS = (
    Field("listen", str, default=("127.0.0.1", 2525), check=parse_listen),  # default: parsed
    Field("spool", str, required=True),
    Field("domains", list, required=True, item_types=str, check=_domains),
    Field("old", (str, dict), check=parse_upstream),
    Field("new", (str, dict), check=parse_upstream),
    Field("default_route", str, default="old", check=_route),
    Field("routes", str),
    Field("hostname", str),
    Field("max_message_size", int, default=36_700_160, check=_positive),  # 35 MiB, like Gmail
    Field("max_connections", int, default=200, check=_positive),
    Field("max_connections_per_client", int, default=20, check=_positive),
    Field("upstream_connections", int, default=4, check=_positive),
    Field("retry_initial", (int, float, str), default=30.0, check=parse_duration),
    Field("retry_max", (int, float, str), default=3600.0, check=parse_duration),
    Field("max_age", (int, float, str), default=5 * 86400.0, check=parse_duration),
    Field("tls_verify", bool, default=True),
    Field("ca_file", str),
    Field("tls_cert", str),
    Field("tls_key", str),
    Field("auth_users", str),
    Field("bounce_via", str, check=parse_upstream_url),
)


def parse_relay_section(doc: TomlFile) -> RelaySettings | None:
    """The validated [relay] section of `doc`, or None if the file has none."""
    values = doc.section("relay", _FIELDS)
    if values is None:
        return None
    base = doc.path.parent

    def path(key: str) -> Path | None:
        text = values[key]
        return None if text is None else base / text

    upstreams = {name: values[name] for name in UPSTREAM_NAMES if values[name] is not None}
    if not upstreams:
        raise doc.error("configure at least one upstream (old or new)", "relay")
    missing = [u for u in upstreams_of(values["default_route"]) if u not in upstreams]
    if missing:
        raise doc.error(f"routes to {missing[0]!r}, which is not configured", "relay",
                        "default_route")
    if values["retry_max"] < values["retry_initial"]:
        raise doc.error("must not be less than retry_initial", "relay", "retry_max")
    if (values["tls_cert"] is None) != (values["tls_key"] is None):
        raise doc.error("tls_cert and tls_key go together", "relay", "tls_cert")
    host, port = values["listen"]
    settings = RelaySettings(
        listen_host=host, listen_port=port, spool=base / values["spool"],
        domains=values["domains"], upstreams=upstreams, default_route=values["default_route"],
        routes=path("routes"), hostname=values["hostname"],
        max_message_size=values["max_message_size"], max_connections=values["max_connections"],
        max_connections_per_client=values["max_connections_per_client"],
        upstream_connections=values["upstream_connections"],
        retry_initial=values["retry_initial"], retry_max=values["retry_max"],
        max_age=values["max_age"], tls_verify=values["tls_verify"], ca_file=path("ca_file"),
        tls_cert=path("tls_cert"), tls_key=path("tls_key"), auth_users=path("auth_users"),
        bounce_via=values["bounce_via"], source=doc.path,
    )
    if settings.auth_users and settings.tls_cert is None and not settings.listens_on_loopback:
        # Passwords must not cross the network in clear text (DESIGN invariant 6).
        raise doc.error("AUTH on a non-loopback address needs tls_cert and tls_key",
                        "relay", "auth_users")
    return settings


def upstreams_of(route: str) -> tuple[str, ...]:
    """The upstream names a route delivers to: "both" -> ("old", "new")."""
    return UPSTREAM_NAMES if route == "both" else (route,)
