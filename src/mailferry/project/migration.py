"""The planner's view of migration.toml (`ProjectFile.plan`): the whole migration,
validated before `check`, `plan`, `notify` or `monitor` run.

Every section is a declarative list of `Field`s (see tomlfile), so a later section or key
is one more line; cross-field checks (time zone, cutover) follow. Any problem raises
`ConfigError` naming file:line and the key, which the CLI turns into exit status 2.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailferry.project.monitor import (
    DeliverabilitySettings,
    MonitorSettings,
    parse_deliverability_section,
    parse_monitor_section,
)
from mailferry.project.relay import RelaySettings, parse_relay_section
from mailferry.project.secrets import check_reference
from mailferry.project.tomlfile import Field, TomlFile, validate_table
from mailferry.project.windows import Window, parse_window
from mailferry.redact import mask_url
from mailferry.sizes import parse_size
from mailferry.urls import ServerURL, schemes_of

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def _domain_name(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    if not _HOSTNAME.match(name):
        raise ValueError(f"{value!r} is not a domain name")
    return name


def _domain_list(values: list[str]) -> tuple[str, ...]:
    return tuple(_domain_name(v) for v in values)


def _non_empty_domains(values: list[str]) -> tuple[str, ...]:
    if not values:
        raise ValueError("list at least one domain")
    return _domain_list(values)


def _ip_list(values: list[str]) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_address(v)) for v in values)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def _server_url(protocol: str) -> Callable[[str], ServerURL]:
    """A provider's server of `protocol` ("imap", "smtp"): scheme://host:port, no user."""
    return lambda url: ServerURL.parse(url, schemes=schemes_of(protocol))


def _server_urls(protocol: str) -> Callable[[Any], tuple[ServerURL, ...]]:
    def check(value: str | list[str]) -> tuple[ServerURL, ...]:
        urls = [value] if isinstance(value, str) else value
        return tuple(map(_server_url(protocol), urls))
    return check


def parse_nameserver(value: str) -> tuple[str, int]:
    """'192.0.2.1', '127.0.0.1:5353' or '[::1]:5353' -> (address, port)."""
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:]+)(?::(\d+))?|([0-9a-fA-F:]+)", value)
    if not match:
        raise ValueError(f"{value!r} is not an address or address:port")
    host = match.group(1) or match.group(3) or match.group(5)
    port = int(match.group(2) or match.group(4) or 53)
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"{value!r}: nameservers are IP addresses") from None
    if not 0 < port < 65536:
        raise ValueError(f"{value!r}: bad port")
    return address, port


def _nameservers(values: list[str]) -> tuple[tuple[str, int], ...]:
    return tuple(parse_nameserver(v) for v in values)


def _store_url(value: str) -> str:
    """A PostgreSQL URL without a password (that comes from store_password or libpq's
    PGPASSWORD / ~/.pgpass): the file is shared and read by people who must not see it.
    SQLAlchemy is imported here, not above: the relay loads this module and keeps its
    memory small (tests/relay/test_relay_memory.py)."""
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import url as sa_url

    try:
        url = sa_url.make_url(value)
    except sa_exc.ArgumentError:
        raise ValueError("write postgresql://user@host:port/database") from None
    if url.get_backend_name() != "postgresql":
        raise ValueError("only postgresql://user@host:port/database is supported "
                         "(leave it out for the state file)")
    if url.password is not None:
        raise ValueError("no password in the URL: write store_password = \"env:NAME\" "
                         "or \"file:PATH\"")
    if not url.host or not url.database:
        raise ValueError("write postgresql://user@host:port/database")
    return value


def _broker_url(value: str) -> str:
    """A Redis URL without a password (broker_password holds the reference)."""
    match = re.match(r"^redis://(?:([^:@/]*)(:[^@/]*)?@)?([^:/@]+)(?::(\d+))?(?:/(\d+))?$", value)
    if match is None:
        raise ValueError("write redis://host:port/db")
    if match.group(2):
        raise ValueError("no password in the URL: write broker_password = \"env:NAME\" "
                         "or \"file:PATH\"")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{mask_url(value)!r} is not an http(s) URL")
    return value if value.endswith("/") else value + "/"


def _at_least(minimum: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        return value
    return check


def _strings(values: list[str]) -> tuple[str, ...]:
    return tuple(values)


def _windows(values: list[str]) -> tuple[Window, ...]:
    return tuple(parse_window(v) for v in values)


def _mirror_cap(value: str | int) -> str | int:
    from mailferry.engine import MirrorCap

    MirrorCap.parse(value)  # raises ValueError with the reason
    return value


def _positive_days(value: float) -> float:
    if value <= 0:
        raise ValueError(f"{value}: a number of days above 0")
    return float(value)


def _folder_map(table: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    renames = []
    for src, dst in table.items():
        if not isinstance(dst, str) or not src.strip("/") or not dst.strip("/"):
            raise ValueError(f"{src!r} = {dst!r}: map folder names to folder names")
        renames.append((src.strip("/"), dst.strip("/")))
    return tuple(renames)


# How `mailferry sync` logs in on [source]/[target] (project/settings.py checks the values
# when a sync needs them: auth is password|master|xoauth2, secrets are env:NAME or file:PATH)
_ACCOUNT_ACCESS = [
    Field("auth", str, default=None),
    Field("max_connections", int, default=None, check=_at_least(1)),
    Field("master_user", str, default=None),
    Field("master_password", str, default=None),
    Field("token_file", str, default=None),  # xoauth2: JSON user -> token
    Field("token_command", str, default=None),  # xoauth2: prints a token for {user}
]
# Which folders move, for everyone ([filters]) or one wave ([waves.NAME] overrides keys).
FILTER_FIELDS = [
    Field("include", list, default=(), item_types=str, check=_strings),
    Field("exclude", list, default=(), item_types=str, check=_strings),
    Field("exclude_special", list, default=(), item_types=str, check=_strings),
    Field("map", dict, default=(), check=_folder_map),  # "Old Stuff" = "Archive/Old"
    Field("automap", bool, default=True),
    Field("skip_duplicates", bool, default=False),
    # by age (days, by INTERNALDATE) and size (bytes, or "25MB"), inside every folder
    Field("max_age", (int, float), default=None, check=_positive_days),
    Field("min_age", (int, float), default=None, check=_positive_days),
    Field("max_size", (int, str), default=None, check=parse_size),
]

# [waves.NAME]: the filter keys above, plus when the wave moves (local wall time in the
# migration's zone, or a date: the whole day); the notices to its users say it.
WAVE_FIELDS = [
    *FILTER_FIELDS,
    Field("start", (dt.datetime, dt.date), default=None),
    Field("end", (dt.datetime, dt.date), default=None),
    # mirror mode for this wave, and its own cutover (a pilot group cuts over earlier)
    Field("mirror", bool, default=None),
    Field("cutover", dt.datetime, default=None),
]
CREDENTIALS = ("none", "letter")


def _credentials(value: str) -> str:
    if value not in CREDENTIALS:
        raise ValueError(f"{value!r}: choose one of {', '.join(CREDENTIALS)}")
    return value


SECTIONS: dict[str, list[Field]] = {
    "migration": [
        Field("name", str, required=True),
        Field("domains", list, required=True, item_types=str, check=_non_empty_domains),
        Field("timezone", str, required=True),
        Field("cutover", dt.datetime, required=True),
        Field("windows", list, default=(), item_types=str, check=_windows),
    ],
    "source": [
        Field("imap", str, required=True, check=_server_urls("imap")),
        Field("smtp", (str, list), default=(), item_types=str, check=_server_urls("smtp")),
        Field("mx", list, default=(), item_types=str, check=_domain_list),
        Field("account_expiry", dt.date, default=None),
        *_ACCOUNT_ACCESS,
    ],
    "target": [
        Field("imap", str, required=True, check=_server_urls("imap")),
        Field("smtp", (str, list), default=(), item_types=str, check=_server_urls("smtp")),
        Field("mx", list, default=(), item_types=str, check=_domain_list),
        Field("spf_include", str, default=None, check=_domain_name),
        Field("dkim_selectors", list, default=(), item_types=str, check=_strings),
        Field("sending_ips", list, default=(), item_types=str, check=_ip_list),
        *_ACCOUNT_ACCESS,
    ],
    "domain": [
        Field("registrar_transfer", dt.date, default=None),
        Field("new_nameservers", list, default=(), item_types=str, check=_domain_list),
    ],
    "pilot": [
        Field("size", int, default=0, check=_at_least(0)),
        Field("departments", list, default=(), item_types=str, check=_strings),
        Field("date", dt.date, default=None),
        Field("days", int, default=3, check=_at_least(0)),
    ],
    "plan": [
        Field("backup", bool, default=False),
        Field("fallback", str, default=""),
        Field("delta_days", int, default=1, check=_at_least(0)),
        Field("rollback_days", int, default=7, check=_at_least(0)),
    ],
    "notify": [
        Field("lead_days", int, default=7, check=_at_least(0)),
        Field("date", dt.date, default=None),
        # mailferry notify: who signs, who helps, how notices are submitted
        Field("sender", str, default=None),  # "IT <it@bank.example>"
        Field("support", str, default=None),  # "helpdesk@bank.example, +60 3 1234 5678"
        Field("smtp", str, default=None, check=_server_url("smtp")),  # submission server
        Field("smtp_user", str, default=None),
        Field("smtp_password", str, default=None, check=check_reference),
        Field("ca_file", str, default=None),  # trust this CA for STARTTLS (private CAs)
        Field("rate", int, default=60, check=_at_least(1)),  # notices per minute
        Field("retries", int, default=3, check=_at_least(0)),  # per notice, for 4xx answers
        Field("credentials", str, default="none", check=_credentials),
        Field("language", str, default="en"),  # for users without a language column
        Field("templates", str, default=None),  # directory overriding shipped templates
        Field("autoconfig_url", str, default=None, check=_http_url),  # autoconfig serve
    ],
    "users": [
        Field("file", str, required=True),  # users.csv, relative to migration.toml
        Field("secrets", str, default=None),  # user,source_password,target_password
    ],
    "filters": FILTER_FIELDS,
    "sync": [
        Field("state", str, default="mailferry-state.db"),
        # the shared store of many machines instead of the file: postgresql://user@host:port/db
        Field("store", str, default=None, check=_store_url),
        Field("store_password", str, default=None, check=check_reference),  # env: or file:
        # the task queue of `mailferry worker` and `sync --distributed`: redis://host:port/db
        Field("broker", str, default=None, check=_broker_url),
        Field("broker_password", str, default=None, check=check_reference),
        Field("mailboxes", int, default=4, check=_at_least(1)),  # copied at once
        Field("workers", int, default=2, check=_at_least(1)),  # folders at once per mailbox
        Field("retries", int, default=3, check=_at_least(0)),  # per mailbox, transient errors
        Field("backoff", (int, float), default=5.0),  # seconds, doubled per retry
        # mirror mode before the cutover: moves and deletions follow (engine/mirror.py)
        Field("mirror", bool, default=False),
        Field("mirror_cap", (str, int), default="10%", check=_mirror_cap),
        # seconds without a heartbeat after which a run's lease on a mailbox is free again
        Field("lease_ttl", (int, float), default=30.0, check=_at_least(1)),
    ],
    "dashboard": [  # mailferry serve
        Field("token", str, default=None, check=check_reference),  # env:NAME or file:PATH
    ],
    "logs": [  # the log file of each run (cli/runlog.py reads these two keys itself)
        Field("enabled", bool, default=True),
        Field("dir", str, default="logs"),
    ],
    "check": [
        Field("nameservers", list, default=(), item_types=str, check=_nameservers),
        Field("rdap_url", str, default=None, check=_http_url),
        Field("ca_file", str, default=None),
        Field("timeout", (int, float), default=5.0),
        Field("https_port", int, default=443, check=_at_least(1)),  # MTA-STS policy fetch
    ],
}
# [waves.NAME]: FILTER_FIELDS per wave; [relay], [monitor], [deliverability]: their modules
KNOWN_SECTIONS = (*SECTIONS, "relay", "waves", "monitor", "deliverability")


@dataclass(frozen=True)
class ProviderSettings:
    """One side of the move, [source] (the old provider) or [target] (the new one): its
    servers, DNS and how mailferry logs in there; one user's login is an `imap.Account`."""

    imap: tuple[ServerURL, ...]
    smtp: tuple[ServerURL, ...]
    mx: tuple[str, ...]
    account_expiry: dt.date | None = None
    spf_include: str | None = None
    dkim_selectors: tuple[str, ...] = ()
    sending_ips: tuple[str, ...] = ()
    auth: str | None = None
    max_connections: int | None = None
    master_user: str | None = None
    master_password: str | None = field(default=None, repr=False)  # env:NAME or file:PATH
    token_file: str | None = None
    token_command: str | None = None

    @property
    def endpoints(self) -> tuple[ServerURL, ...]:
        return self.imap + self.smtp


@dataclass(frozen=True)
class DomainPlan:
    registrar_transfer: dt.date | None
    new_nameservers: tuple[str, ...]


@dataclass(frozen=True)
class Pilot:
    size: int
    departments: tuple[str, ...]
    date: dt.date | None
    days: int  # how long the pilot runs before the other waves


@dataclass(frozen=True)
class PlanOptions:
    backup: bool
    fallback: str
    delta_days: int
    rollback_days: int


@dataclass(frozen=True)
class Notify:
    lead_days: int
    date: dt.date | None
    sender: str | None = None
    support: str | None = None
    smtp: ServerURL | None = None
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)  # env:NAME or file:PATH
    ca_file: str | None = None
    rate: int = 60
    retries: int = 3
    credentials: str = "none"
    language: str = "en"
    templates: str | None = None
    autoconfig_url: str | None = None


@dataclass(frozen=True)
class CheckOptions:
    """Where the checks look: private resolvers and RDAP server (tests and private setups)."""

    nameservers: tuple[tuple[str, int], ...] = ()
    rdap_url: str | None = None
    ca_file: str | None = None
    timeout: float = 5.0
    https_port: int = 443  # where the MTA-STS policy is fetched (test beds use another)


@dataclass(frozen=True)
class WaveTimes:
    """When a wave moves ([waves.NAME] start/end): aware, in the migration's zone."""

    start: dt.datetime
    end: dt.datetime | None


@dataclass(frozen=True)
class Migration:
    path: Path
    name: str
    domains: tuple[str, ...]
    timezone: ZoneInfo
    cutover: dt.datetime  # aware, in `timezone`
    windows: tuple[Window, ...]
    source: ProviderSettings
    target: ProviderSettings
    domain: DomainPlan
    pilot: Pilot | None  # None: no [pilot] section at all
    plan: PlanOptions
    notify: Notify
    check: CheckOptions
    relay: RelaySettings | None
    monitor: MonitorSettings | None = None  # [monitor]: mailferry monitor
    deliverability: DeliverabilitySettings | None = None  # [deliverability]
    wave_times: dict[str, WaveTimes] = field(default_factory=dict)  # waves with a start

    @property
    def decommission(self) -> dt.datetime:
        """When the old provider is switched off: [monitor] decommission, else the start of
        [source] account_expiry, else cutover + [plan] rollback_days."""
        if self.monitor is not None and self.monitor.decommission is not None:
            return self.monitor.decommission
        if self.source.account_expiry is not None:
            return dt.datetime.combine(self.source.account_expiry, dt.time(),
                                       tzinfo=self.timezone)
        return self.cutover + dt.timedelta(days=self.plan.rollback_days)


def _section(doc: TomlFile, name: str, *, required: bool = False) -> dict[str, Any]:
    table = doc.section(name, SECTIONS[name], required=required)
    if table is None:  # absent optional section: all defaults
        table = {f.name: f.default for f in SECTIONS[name]}
    return table


def build_migration(doc: TomlFile) -> Migration:
    """The planner's view; needs [migration], [source] and [target]."""
    head = _section(doc, "migration", required=True)
    timezone = _zone(doc, head["timezone"])
    cutover = _localize(doc, head["cutover"], timezone)
    source = ProviderSettings(**_section(doc, "source", required=True))
    target = ProviderSettings(**_section(doc, "target", required=True))
    pilot = doc.section("pilot", SECTIONS["pilot"])
    relay = parse_relay_section(doc)  # [relay] belongs to the relay, which validates it
    return Migration(
        path=doc.path, name=head["name"], domains=head["domains"], timezone=timezone,
        cutover=cutover, windows=head["windows"], source=source, target=target,
        domain=DomainPlan(**_section(doc, "domain")),
        pilot=Pilot(**pilot) if pilot is not None else None,
        plan=PlanOptions(**_section(doc, "plan")),
        notify=Notify(**_section(doc, "notify")),
        check=CheckOptions(**_section(doc, "check")),
        relay=relay,
        monitor=parse_monitor_section(doc, has_relay=relay is not None, zone=timezone),
        deliverability=parse_deliverability_section(doc),
        wave_times=parse_wave_times(doc, timezone, Pilot(**pilot) if pilot else None),
    )


def parse_wave_times(doc: TomlFile, zone: ZoneInfo, pilot: Pilot | None) -> dict[str, WaveTimes]:
    """[waves.NAME] start/end; the pilot wave defaults to [pilot] date (the whole day)."""
    out: dict[str, WaveTimes] = {}
    if pilot is not None and pilot.date is not None:
        out["pilot"] = WaveTimes(_moment(pilot.date, zone), None)
    waves = doc.data.get("waves", {})
    if not isinstance(waves, dict):
        raise doc.error("expected tables [waves.NAME]", "waves")
    for wave, table in waves.items():
        if not isinstance(table, dict):
            raise doc.error("expected a table of wave keys", "waves", wave)
        checked = validate_table(doc, ("waves", wave), table, WAVE_FIELDS)
        start, end = checked["start"], checked["end"]
        if start is None:
            if end is not None:
                raise doc.error("end without start", "waves", wave, "end")
            continue
        times = WaveTimes(_moment(start, zone), _moment(end, zone, end=True)
                          if end is not None else None)
        if times.end is not None and times.end <= times.start:
            raise doc.error("end must be after start", "waves", wave, "end")
        out[wave] = times
    return out


def _moment(value: dt.date, zone: ZoneInfo, *, end: bool = False) -> dt.datetime:
    """A date-time is wall time in `zone`; a date is its start (or, as an end, its end)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    day = value + dt.timedelta(days=1) if end else value
    return dt.datetime.combine(day, dt.time(), tzinfo=zone)


def _zone(doc: TomlFile, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise doc.error(f"unknown time zone {name!r} (use an IANA name such as "
                        "'Europe/Berlin')", "migration", "timezone") from None


def _localize(doc: TomlFile, value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A local date-time is wall time in `zone`; one with an offset is converted to it."""
    if value.tzinfo is not None:
        return value.astimezone(zone)
    local = value.replace(tzinfo=zone)
    # a wall time skipped by a DST change does not survive a round trip through UTC
    if local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise doc.error(f"{value} does not exist in {zone.key} (clocks skip it)",
                        "migration", "cutover")
    return local
