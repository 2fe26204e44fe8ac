"""The `[monitor]` and `[deliverability]` sections of migration.toml: what `mailferry monitor`
watches after the cutover and how `mailferry deliverability` compares the two systems.

    [monitor]
    probe_address = "mailferry-probe@bank.example"   # a probe is mailed here every pass
    probe_user = "mailferry-probe"      # its mailbox; logs in as `sync` does (secrets.csv,
                                        # master user or xoauth2 of [source]/[target])
    probe_timeout = "15m"               # not arrived within this: an alert
    decommission = 2027-01-31           # late mail is copied until then (default: [source]
                                        # account_expiry, else cutover + [plan] rollback_days)
    alert_to = ["ops@bank.example"]     # alerts by mail, through alert_smtp
    alert_smtp = "submission://smtp.bank.example:587"
    webhook = "https://hooks.bank.example/mailferry"   # alerts as JSON POSTs

The resolvers are those of `[check] nameservers` (each is asked on its own, to show
propagation); the dates are those of `[migration]`. Durations are seconds or "30s", "15m",
"4h", "5d"; secrets are env:NAME or file:PATH.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailferry.project.relay import parse_duration
from mailferry.project.secrets import check_reference
from mailferry.project.tomlfile import Field, TomlFile
from mailferry.urls import ServerURL, schemes_of

_ADDRESS = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")


def _address(value: str) -> str:
    if not _ADDRESS.match(value.strip()):
        raise ValueError(f"{value!r} is not a mail address (local@domain)")
    return value.strip()


def _addresses(values: list[str]) -> tuple[str, ...]:
    return tuple(_address(v) for v in values)


def _duration(value: Any) -> float:
    return parse_duration(value)


def _port(value: int) -> int:
    if not 0 < value < 65536:
        raise ValueError(f"{value}: not a TCP port")
    return value


def _days(value: int) -> int:
    if value < 0:
        raise ValueError(f"must be at least 0, got {value}")
    return value


def _webhook(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _submission(value: str) -> ServerURL:
    return ServerURL.parse(value, schemes=schemes_of("smtp"))


MONITOR_FIELDS = [
    Field("probe_address", str, default=None, check=_address),
    Field("probe_user", str, default=None),
    Field("probe_from", str, default="mailferry-probe@monitor.invalid", check=_address),
    Field("probe_timeout", (int, float, str), default=900.0, check=_duration),
    Field("probe_wait", (int, float, str), default=60.0, check=_duration),
    Field("smtp_port", int, default=25, check=_port),  # of the MX hosts (tests: another)
    Field("dual_delivery", bool, default=None),  # default: the project has a [relay]
    Field("decommission", (dt.date, dt.datetime), default=None),
    Field("interval", (int, float, str), default=600.0, check=_duration),
    Field("relay_queue_age", (int, float, str), default=3600.0, check=_duration),
    Field("domain_expiry_days", int, default=30, check=_days),
    Field("alert_to", list, default=(), item_types=str, check=_addresses),
    Field("alert_from", str, default=None, check=_address),
    Field("alert_smtp", str, default=None, check=_submission),
    Field("alert_smtp_user", str, default=None),
    Field("alert_smtp_password", str, default=None, check=check_reference),
    Field("webhook", str, default=None, check=_webhook),
    Field("webhook_token", str, default=None, check=check_reference),  # Bearer token
    Field("dmarc_dir", str, default=None),  # aggregate reports dropped here as files
    Field("dmarc_user", str, default=None),  # ... or delivered to this mailbox (new system)
    Field("dmarc_folder", str, default="INBOX"),
    Field("keep_probes", bool, default=False),  # default: a probe found on the new system
]                                               # is deleted there (never on the old one)

DELIVERABILITY_FIELDS = [
    Field("sender_smtp", str, required=True, check=_submission),
    Field("sender_address", str, required=True, check=_address),
    Field("sender_user", str, default=None),
    Field("sender_password", str, default=None, check=check_reference),
    Field("pilot_user", str, required=True),  # its mailbox on both systems (as `sync` logs in)
    Field("old_address", str, required=True, check=_address),  # the pilot user, old system
    Field("new_address", str, required=True, check=_address),  # ... and new system
    Field("wait", (int, float, str), default=120.0, check=_duration),
]


@dataclass(frozen=True)
class SmtpLogin:
    """Where to submit mail, and as whom; the password is a reference (env:/file:)."""

    endpoint: ServerURL
    user: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MonitorSettings:
    probe_address: str | None
    probe_user: str | None
    probe_from: str
    probe_timeout: float
    probe_wait: float
    smtp_port: int
    dual_delivery: bool
    decommission: dt.datetime | None  # aware; None: see Migration.decommission
    interval: float
    relay_queue_age: float
    domain_expiry_days: int
    alert_to: tuple[str, ...]
    alert_from: str | None
    alert_smtp: SmtpLogin | None
    webhook: str | None
    webhook_token: str | None = field(repr=False)
    dmarc_dir: Path | None
    dmarc_user: str | None
    dmarc_folder: str
    keep_probes: bool
    base: Path  # the migration.toml's directory: secrets and paths are relative to it


@dataclass(frozen=True)
class DeliverabilitySettings:
    sender: SmtpLogin
    sender_address: str
    pilot_user: str
    old_address: str
    new_address: str
    wait: float


def parse_monitor_section(doc: TomlFile, *, has_relay: bool,
                          zone: dt.tzinfo) -> MonitorSettings | None:
    """The validated [monitor] section, or None if the file has none (`Migration.decommission`
    gives the default end from the planner's dates)."""
    values = doc.section("monitor", MONITOR_FIELDS)
    if values is None:
        return None
    if values["probe_address"] and not values["probe_user"]:
        raise doc.error("probe_address needs probe_user: the mailbox to look for the probe in "
                        "(it logs in as `sync` does)", "monitor", "probe_address")
    if values["alert_to"] and not (values["alert_smtp"] and values["alert_from"]):
        raise doc.error("alert_to needs alert_smtp and alert_from", "monitor", "alert_to")
    if values["alert_smtp_password"] and not values["alert_smtp_user"]:
        raise doc.error("alert_smtp_password needs alert_smtp_user", "monitor",
                        "alert_smtp_password")
    if values["probe_wait"] > values["probe_timeout"]:
        raise doc.error("must not be longer than probe_timeout", "monitor", "probe_wait")
    smtp = values["alert_smtp"]
    base = doc.path.parent
    return MonitorSettings(
        probe_address=values["probe_address"], probe_user=values["probe_user"],
        probe_from=values["probe_from"], probe_timeout=values["probe_timeout"],
        probe_wait=values["probe_wait"], smtp_port=values["smtp_port"],
        dual_delivery=has_relay if values["dual_delivery"] is None else values["dual_delivery"],
        decommission=_end(values["decommission"], zone),
        interval=values["interval"], relay_queue_age=values["relay_queue_age"],
        domain_expiry_days=values["domain_expiry_days"], alert_to=values["alert_to"],
        alert_from=values["alert_from"],
        alert_smtp=SmtpLogin(smtp, values["alert_smtp_user"], values["alert_smtp_password"])
        if smtp else None,
        webhook=values["webhook"], webhook_token=values["webhook_token"],
        dmarc_dir=base / values["dmarc_dir"] if values["dmarc_dir"] else None,
        dmarc_user=values["dmarc_user"], dmarc_folder=values["dmarc_folder"],
        keep_probes=values["keep_probes"], base=base)


def parse_deliverability_section(doc: TomlFile) -> DeliverabilitySettings | None:
    values = doc.section("deliverability", DELIVERABILITY_FIELDS)
    if values is None:
        return None
    if values["sender_password"] and not values["sender_user"]:
        raise doc.error("sender_password needs sender_user", "deliverability",
                        "sender_password")
    if values["old_address"].lower() == values["new_address"].lower():
        raise doc.error("old_address and new_address must differ: each reaches one system",
                        "deliverability", "new_address")
    return DeliverabilitySettings(
        SmtpLogin(values["sender_smtp"], values["sender_user"], values["sender_password"]),
        values["sender_address"], values["pilot_user"], values["old_address"],
        values["new_address"], values["wait"])


def _end(value: dt.date | dt.datetime | None, zone: dt.tzinfo) -> dt.datetime | None:
    """A decommission date is the start of that day in the migration's zone."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return dt.datetime.combine(value, dt.time(), tzinfo=zone)
