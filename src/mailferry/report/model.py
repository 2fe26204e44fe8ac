"""Where a migration project stands, as data: per wave, per user, per folder, every failure.

`mailferry status` prints it, `mailferry report` renders it as JSON or one HTML page.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from mailferry.project import MailboxUser
from mailferry.status import MailboxStatus
from mailferry.store import STATUSES, MailboxInventory, MailboxRecord


@dataclass(frozen=True)
class UserStatus:
    user: MailboxUser
    record: MailboxRecord | None  # None: never synced
    inventory: MailboxInventory | None = None  # what `mailferry inventory` counted at the source

    @property
    def status(self) -> MailboxStatus:
        return self.record.status if self.record else MailboxStatus.PENDING

    @property
    def messages(self) -> int:
        return self.record.messages if self.record else 0

    @property
    def bytes(self) -> int:
        return self.record.bytes if self.record else 0

    @property
    def failures(self) -> list[dict[str, Any]]:
        return self.record.failures if self.record else []

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "source_user": self.user.source_user, "target_user": self.user.target_user,
            "department": self.user.department, "wave": self.user.wave,
            "columns": dict(self.user.extra),  # the admin's own columns of users.csv
            "status": self.status, "messages": self.messages, "bytes": self.bytes,
            "passes": record.passes if record else 0,
            "last_pass_messages": record.last_messages if record else 0,
            "failed_messages": record.failed if record else 0,
            "last_sync": iso(record.last_sync) if record else None,
            "error": record.error if record else None,
            "folders": record.folders if record else [],
            "failures": self.failures,
            "inventory": self.inventory.to_json() if self.inventory else None,
        }


@dataclass(frozen=True)
class WaveStatus:
    name: str  # "" = not assigned
    users: list[UserStatus]

    @property
    def label(self) -> str:
        return self.name or "(unassigned)"

    @property
    def counts(self) -> Counter[str]:
        return Counter(u.status for u in self.users)

    @property
    def counted(self) -> list[MailboxInventory]:
        """The inventories of this wave's mailboxes that were taken (without an error)."""
        return [u.inventory for u in self.users if u.inventory and not u.inventory.error]

    def to_json(self) -> dict[str, Any]:
        counts = self.counts
        counted = self.counted
        return {"wave": self.name, "users": len(self.users),
                "status": {s: counts.get(s, 0) for s in STATUSES},
                "messages": sum(u.messages for u in self.users),
                "bytes": sum(u.bytes for u in self.users),
                "inventory": {"counted": len(counted),
                              "messages": sum(i.messages for i in counted),
                              "bytes": sum(i.bytes for i in counted)}}


@dataclass(frozen=True)
class ProjectReport:
    project: str
    generated_at: dt.datetime
    waves: list[WaveStatus]
    extra: dict[str, Any] = field(default_factory=dict)  # for sections added by others
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))  # for times shown to people

    @property
    def users(self) -> list[UserStatus]:
        return [u for wave in self.waves for u in wave.users]

    @property
    def counts(self) -> Counter[str]:
        return Counter(u.status for u in self.users)


def build_report(project: str, users: Sequence[MailboxUser],
                 records: Mapping[str, MailboxRecord], *,
                 now: dt.datetime | None = None, zone: ZoneInfo | None = None,
                 inventories: Mapping[str, MailboxInventory] | None = None) -> ProjectReport:
    by_wave: dict[str, list[UserStatus]] = {}
    counted = inventories or {}
    for user in users:
        by_wave.setdefault(user.wave, []).append(UserStatus(
            user, records.get(user.source_user), counted.get(user.source_user)))
    names = [w for w in by_wave if w] + ([""] if "" in by_wave else [])
    return ProjectReport(project, now or dt.datetime.now(dt.UTC),
                         [WaveStatus(name, by_wave[name]) for name in names],
                         zone=zone or ZoneInfo("UTC"))


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
