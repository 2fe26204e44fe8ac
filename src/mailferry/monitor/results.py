"""The result of a monitor pass as data: one `Check` per thing looked at, each with a status.

`ALERT` needs a person: it opens an incident (told once by mail and webhook, once more when it
ends) and makes `mailferry monitor` exit 1. `WARN` is shown and stored, nobody is paged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CheckStatus(StrEnum):
    OK = "ok"
    INFO = "info"  # worth showing, nothing wrong (late mail copied, before the cutover)
    WARN = "warn"  # not right yet, nobody paged (propagation under way, a fact unknown)
    ALERT = "alert"  # needs a person


@dataclass(frozen=True)
class Check:
    area: str  # dns, domain, auth, probe, late-mail, relay, dmarc
    subject: str  # what about: a resolver and domain, a system, a user, an upstream
    status: CheckStatus
    message: str
    detail: dict[str, Any] = field(default_factory=dict)  # JSON-ready

    @property
    def key(self) -> str:
        """The incident this check opens when it alerts: stable across passes."""
        return f"{self.area} {self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {"area": self.area, "subject": self.subject, "status": str(self.status),
                "message": self.message, "detail": self.detail}


@dataclass
class PassResult:
    at: dt.datetime  # the monitor's clock at the start of the pass
    checks: list[Check] = field(default_factory=list)
    phase: str = ""  # before-cutover, after-cutover, after-decommission

    @property
    def alerts(self) -> list[Check]:
        return [c for c in self.checks if c.status == CheckStatus.ALERT]

    @property
    def exit_status(self) -> int:
        return 1 if self.alerts else 0

    def add(self, *checks: Check) -> None:
        self.checks.extend(checks)

    def to_json(self) -> dict[str, Any]:
        return {"at_iso": self.at.isoformat(timespec="seconds"), "phase": self.phase,
                "alerts": len(self.alerts), "checks": [c.to_json() for c in self.checks]}
