"""What a notice says, taken from the project (never free text): the user's wave and its
times in their zone, the new login, the target's servers, what moves and what does not
(from the folder filters that apply to the user's wave), the support contact."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mailferry.errors import ConfigError
from mailferry.notify.locale import format_day, format_moment, special_folder
from mailferry.project import (
    MailboxUser,
    Migration,
    ProjectSettings,
    WaveTimes,
    load,
    load_users,
)
from mailferry.urls import ServerURL


class NoticeKind(StrEnum):
    BEFORE = "before"  # [notify] lead_days before the wave
    REMINDER = "reminder"  # the day before
    DATE_CHANGED = "date-changed"  # the wave's start moved after a notice announced it
    MOVED = "moved"  # the mailbox is synced and verified


@dataclass(frozen=True)
class NotifyProject:
    """migration.toml (a whole migration: notices need its zone and [notify]) and users.csv."""

    migration: Migration
    settings: ProjectSettings
    users: list[MailboxUser]

    @classmethod
    def load(cls, path: str | Path) -> NotifyProject:
        project_file = load(path)
        migration = project_file.plan  # notices need the planner's view: zone, [notify]
        settings = project_file.sync
        return cls(migration, settings, load_users(settings.users_file))

    @property
    def base(self) -> Path:
        return self.settings.base

    def times(self, user: MailboxUser) -> WaveTimes | None:
        return self.settings.wave_times.get(user.wave)

    def zone(self, user: MailboxUser) -> ZoneInfo:
        return ZoneInfo(user.timezone) if user.timezone else self.migration.timezone

    def language(self, user: MailboxUser) -> str:
        return user.language or self.migration.notify.language

    def address(self, user: MailboxUser) -> str:
        """Where this user's notices go: notify_address, else the current (source) address."""
        address = user.notify_address or user.source_user
        if "@" not in address:
            raise ConfigError(f"{user.source_user!r} is not an address: add a notify_address "
                              "column", where=f"{self.settings.users_file}:{user.line}")
        return address

    def mobileconfig_link(self, user: MailboxUser) -> str | None:
        base = self.migration.notify.autoconfig_url
        return f"{base}mobileconfig/{user.target_user}" if base else None


def _server(endpoint: ServerURL) -> dict[str, Any]:
    security = "SSL/TLS" if endpoint.tls == "implicit" else "STARTTLS"
    return {"host": endpoint.host, "port": endpoint.port, "security": security}


def _when(moment: dt.datetime | None, zone: ZoneInfo, language: str) -> str | None:
    return format_moment(moment.astimezone(zone), language) if moment is not None else None


def notice_context(project: NotifyProject, user: MailboxUser, kind: NoticeKind,
                   previous: dt.datetime | None = None) -> dict[str, Any]:
    """The variables every template gets (documented in docs/notify.md)."""
    language = project.language(user)
    zone = project.zone(user)
    times = project.times(user)
    rules = project.settings.rules_for(user.wave)
    target = project.migration.target
    return {
        "kind": str(kind), "language": language, "org": project.migration.name,
        "user": {"name": user.name or user.target_user, "login": user.target_user,
                 "old_address": user.source_user},
        "wave": {"name": user.wave, "zone": zone.key,
                 "start": _when(times.start if times else None, zone, language),
                 "end": _when(times.end if times else None, zone, language),
                 "start_day": format_day(times.start.astimezone(zone), language)
                 if times else None},
        "previous": _when(previous, zone, language),
        "imap": _server(target.imap[0]),
        "outgoing": [_server(e) for e in target.smtp],
        "moves": {"skipped": [special_folder(u, language) for u in rules.exclude_special],
                  "excluded": list(rules.exclude), "only": list(rules.include),
                  "renamed": [list(pair) for pair in rules.map],
                  "dedup": rules.skip_duplicates},
        "support": project.migration.notify.support,
        "credentials": project.migration.notify.credentials,
        "autoconfig": project.mobileconfig_link(user),
        "dual_delivery": project.migration.relay is not None,  # new mail reaches both
    }
