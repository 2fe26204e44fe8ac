"""Facts: what the checks observed, each with its source and the time it was observed,
so a runbook can cite "MX TTL 86400 s (DNS 127.0.0.1:5353, 2026-11-22 12:00 UTC)".

A fact whose value could not be found (timeout, refused, HTTP error) is kept with `error`
set and no value: unknown, never guessed. Rules skip unknown facts; the `facts.unknown`
rule reports them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Category(StrEnum):
    """Groups of checks that `--only` selects."""

    DOMAIN = "domain"  # RDAP
    DNS = "dns"
    SERVERS = "servers"
    PLAN = "plan"  # the migration file's own choices: windows, pilot, backup, ...


@dataclass(frozen=True)
class Fact:
    name: str  # what: "dns.mx", "rdap.status", "tls.not_after"
    subject: str  # about what: a domain, a host name, an endpoint label
    value: Any  # JSON-serialisable; None when unknown
    observed_at: dt.datetime  # aware, UTC
    source: str  # where it came from: "rdap http://...", "dns 127.0.0.1:5353"
    error: str | None = None  # why it is unknown

    @property
    def key(self) -> str:
        return f"{self.name}[{self.subject}]"

    @property
    def known(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "subject": self.subject, "value": self.value,
            "known": self.known, "error": self.error, "source": self.source,
            "observed_at": self.observed_at.isoformat(),
        }


class Facts:
    """The facts of one check run, by key. Later facts with the same key replace earlier."""

    def __init__(self, facts: list[Fact] | None = None) -> None:
        self._by_key: dict[str, Fact] = {}
        for fact in facts or []:
            self.add(fact)

    def add(self, fact: Fact) -> None:
        self._by_key[fact.key] = fact

    def extend(self, facts: list[Fact]) -> None:
        for fact in facts:
            self.add(fact)

    def get(self, name: str, subject: str) -> Fact | None:
        return self._by_key.get(f"{name}[{subject}]")

    def known(self, name: str, subject: str) -> Fact | None:
        """The fact if it was observed; None if missing or unknown."""
        fact = self.get(name, subject)
        return fact if fact is not None and fact.known else None

    def unknown(self) -> list[Fact]:
        return [f for f in self if not f.known]

    def __iter__(self) -> Iterator[Fact]:
        return iter(self._by_key.values())


@dataclass(frozen=True)
class FactRecorder:
    """Makes facts from one source with the clock's time, so checks stay short."""

    source: str
    clock: Clock

    def ok(self, name: str, subject: str, value: Any) -> Fact:
        return Fact(name, subject, value, self.clock(), self.source)

    def unknown(self, name: str, subject: str, error: str) -> Fact:
        return Fact(name, subject, None, self.clock(), self.source, error)
