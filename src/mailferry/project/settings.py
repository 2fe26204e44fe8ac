"""The sync's view of migration.toml (`ProjectFile.sync`): what `mailferry waves`, `sync`,
`status`, `report`, `verify --project`, `backup --project` and `serve` need.

It needs [source], [target] and [users]; [filters], [waves.NAME], [sync] and [pilot] are
optional. With a [migration] section the file is a whole migration, and the planner's view
(which validates it) comes along for the dates and the report. Paths are relative to the
file's directory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

from mailferry.project.migration import (
    FILTER_FIELDS,
    SECTIONS,
    WAVE_FIELDS,
    Migration,
    Pilot,
    ProviderSettings,
    WaveTimes,
    parse_wave_times,
)
from mailferry.project.relay import RelaySettings, parse_relay_section
from mailferry.project.secrets import check_reference, resolve
from mailferry.project.tomlfile import TomlFile, validate_table
from mailferry.project.users import check_wave_name
from mailferry.project.windows import Window

AUTH_MODES = ("password", "master", "xoauth2")


@dataclass(frozen=True)
class FolderRules:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_special: tuple[str, ...] = ()
    map: tuple[tuple[str, str], ...] = ()
    automap: bool = True
    skip_duplicates: bool = False
    max_age: float | None = None  # days
    min_age: float | None = None
    max_size: int | None = None  # bytes


@dataclass(frozen=True)
class SyncSettings:
    state: Path
    mailboxes: int
    workers: int
    retries: int
    backoff: float
    mirror: bool = False
    mirror_cap: str | int = "10%"
    lease_ttl: float = 30.0
    store: str | None = None  # postgresql://user@host:port/db: the shared store, not `state`
    store_password: str | None = None  # a secret reference (env:NAME, file:PATH)
    broker: str | None = None  # redis://host:port/db: the task queue of distributed workers
    broker_password: str | None = None  # a secret reference

    def has_state(self) -> bool:
        """Whether there is a state to read: a database server always has one."""
        return self.store is not None or self.state.exists()


@dataclass(frozen=True)
class WaveMirror:
    """[waves.NAME] mirror and cutover; None: the project's."""

    mirror: bool | None = None
    cutover: dt.datetime | None = None  # aware


@dataclass(frozen=True)
class ProjectSettings:
    path: Path
    name: str
    source: ProviderSettings
    target: ProviderSettings
    users_file: Path
    secrets_file: Path | None
    filters: FolderRules
    wave_filters: dict[str, FolderRules]  # [waves.NAME]: [filters] with these keys replaced
    sync: SyncSettings
    pilot: Pilot | None
    windows: tuple[Window, ...]
    timezone: ZoneInfo
    wave_times: dict[str, WaveTimes] = field(default_factory=dict)  # waves with a start
    cutover: dt.datetime | None = None  # [migration] cutover, aware
    wave_mirror: dict[str, WaveMirror] = field(default_factory=dict)
    # where each key was written, so later errors (a secret reference that does not
    # resolve) name the line: ("source", "master_password") -> line
    lines: dict[tuple[str, ...], int] = field(default_factory=dict, compare=False)
    migration: Migration | None = None  # the whole [migration], when the file has one
    relay: RelaySettings | None = None  # [relay], when the file has one
    dashboard_token: str | None = None  # [dashboard] token: env:NAME or file:PATH

    @property
    def base(self) -> Path:
        return self.path.parent

    def where(self, *key: str) -> str:
        """`path:line` of a key (the file alone if its line is unknown)."""
        line = self.lines.get(key)
        return f"{self.path}:{line}" if line else str(self.path)

    def state_location(self) -> Path | URL:
        """Where the project's state lives: the SQLite file, or the PostgreSQL database of
        `[sync] store` with its password resolved (SQLAlchemy's URL prints it as ***)."""
        if self.sync.store is None:
            return self.sync.state
        from sqlalchemy.engine import make_url  # not at import: the relay loads this module

        url = make_url(self.sync.store).set(drivername="postgresql+psycopg")
        if self.sync.store_password is not None:
            password = resolve(self.sync.store_password, key="store_password", base=self.base,
                               where=self.where("sync", "store_password"))
            url = url.set(password=password)
        return url

    def broker_password(self) -> str | None:
        """The task queue's password, resolved from `[sync] broker_password`, if any."""
        if self.sync.broker_password is None:
            return None
        return resolve(self.sync.broker_password, key="broker_password", base=self.base,
                       where=self.where("sync", "broker_password"))

    def rules_for(self, wave: str) -> FolderRules:
        return self.wave_filters.get(wave, self.filters)

    def mirror_for(self, wave: str, now: dt.datetime, *, wanted: bool | None = None,
                   ) -> tuple[bool, str]:
        """(mirror mode on for a user of `wave` at `now`, why not when it is asked for but
        off): it stops by itself once the user's cutover (the wave's, else the project's)
        has passed, and a later pass only adds late mail."""
        own = self.wave_mirror.get(wave, WaveMirror())
        if wanted is None:  # the command line's --mirror/--no-mirror goes first
            wanted = self.sync.mirror if own.mirror is None else own.mirror
        cutover = own.cutover or self.cutover
        if wanted and cutover is not None and now >= cutover:
            return False, (f"mirroring stopped: the cutover ({cutover.isoformat()}) has "
                           "passed; this pass only adds late mail")
        return wanted, ""

    def local_time(self, moment: dt.datetime) -> dt.datetime:
        """`moment` (aware) as naive wall time in the migration's zone, as windows are."""
        return moment.astimezone(self.timezone).replace(tzinfo=None)


def build_project(doc: TomlFile, migration: Migration | None) -> ProjectSettings:
    """The sync's view; `migration` is the planner's view when the file has [migration]."""
    if migration is not None:
        name, windows, zone = migration.name, migration.windows, migration.timezone
        cutover: dt.datetime | None = migration.cutover
        source, target, pilot = migration.source, migration.target, migration.pilot
    else:
        name, windows, zone = doc.path.parent.name or "migration", (), ZoneInfo("UTC")
        cutover = None
        source = ProviderSettings(**_table(doc, "source", required=True))
        target = ProviderSettings(**_table(doc, "target", required=True))
        pilot_table = doc.section("pilot", SECTIONS["pilot"])
        pilot = Pilot(**pilot_table) if pilot_table is not None else None
    for side, account in (("source", source), ("target", target)):
        _check_access(doc, side, account)
    users = doc.section("users", SECTIONS["users"], required=True)
    assert users is not None
    filters = FolderRules(**_table(doc, "filters"))
    sync = _table(doc, "sync")
    base = doc.path.parent
    return ProjectSettings(
        path=doc.path, name=name, source=source, target=target,
        users_file=base / users["file"],
        secrets_file=base / users["secrets"] if users["secrets"] else None,
        filters=filters, wave_filters=_wave_filters(doc, filters),
        sync=SyncSettings(base / sync["state"], sync["mailboxes"], sync["workers"],
                          sync["retries"], float(sync["backoff"]), sync["mirror"],
                          sync["mirror_cap"], float(sync["lease_ttl"]), sync["store"],
                          sync["store_password"], sync["broker"], sync["broker_password"]),
        pilot=pilot, windows=windows, timezone=zone, lines=dict(doc.lines),
        wave_times=parse_wave_times(doc, zone, pilot), cutover=cutover,
        wave_mirror=_wave_mirror(doc, zone), migration=migration,
        relay=migration.relay if migration is not None else parse_relay_section(doc),
        dashboard_token=_table(doc, "dashboard")["token"],
    )


def _table(doc: TomlFile, name: str, *, required: bool = False) -> dict[str, Any]:
    table = doc.section(name, SECTIONS[name], required=required)
    return table if table is not None else {f.name: f.default for f in SECTIONS[name]}


def _check_access(doc: TomlFile, side: str, account: ProviderSettings) -> None:
    """Each login mode has the keys it needs; secrets are references, not values."""
    auth = account.auth or "password"
    if auth not in AUTH_MODES:
        raise doc.error(f"{auth!r}: choose one of {', '.join(AUTH_MODES)}", side, "auth")
    if account.master_password is not None:
        try:
            check_reference(account.master_password)
        except ValueError as exc:
            raise doc.error(str(exc), side, "master_password") from None
    if auth == "master" and not (account.master_user and account.master_password):
        raise doc.error("auth = \"master\" needs master_user and master_password", side, "auth")
    if auth == "xoauth2" and bool(account.token_file) == bool(account.token_command):
        raise doc.error("auth = \"xoauth2\" needs one of token_file and token_command",
                        side, "auth")
    if len(account.imap) != 1:
        raise doc.error("one IMAP server per side", side, "imap")


def _wave_filters(doc: TomlFile, filters: FolderRules) -> dict[str, FolderRules]:
    waves = doc.data.get("waves", {})
    if not isinstance(waves, dict):
        raise doc.error("expected tables [waves.NAME]", "waves")
    out: dict[str, FolderRules] = {}
    for wave, table in waves.items():
        try:
            check_wave_name(wave)
        except ValueError as exc:
            raise doc.error(str(exc), "waves", wave) from None
        if not isinstance(table, dict):
            raise doc.error("expected a table of filter keys", "waves", wave)
        checked = validate_table(doc, ("waves", wave), table, WAVE_FIELDS)
        kept = {f.name for f in FILTER_FIELDS}
        out[wave] = replace(filters, **{k: v for k, v in checked.items()
                                        if k in table and k in kept})
    return out


def _wave_mirror(doc: TomlFile, zone: ZoneInfo) -> dict[str, WaveMirror]:
    """[waves.NAME] mirror and cutover (validated with the filters in `_wave_filters`); a
    cutover without an offset is wall time in the migration's zone."""
    out: dict[str, WaveMirror] = {}
    for wave, table in doc.data.get("waves", {}).items():
        cutover = table.get("cutover")
        if cutover is not None and cutover.tzinfo is None:
            cutover = cutover.replace(tzinfo=zone)
        out[wave] = WaveMirror(table.get("mirror"), cutover)
    return out

