"""Findings: the result of a hazard rule, as data (never an exception).

Each rule has a stable id documented in docs/hazards.md, a severity, the runbook steps its
findings block, and advice. A rule yields `Hit`s; `run_rules` turns them into `Finding`s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mailferry.plan.facts import Category, Fact, Facts
from mailferry.project import Migration


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class RuleContext:
    migration: Migration
    facts: Facts
    now: dt.datetime  # aware; "today" for rules about time left


@dataclass(frozen=True)
class Hit:
    """One firing of a rule: what is wrong, the facts it rests on, what to do."""

    message: str
    advice: str
    facts: tuple[Fact, ...] = ()
    subject: str = ""
    severity: Severity | None = None  # None: the rule's own severity


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    category: Category
    title: str
    evaluate: Callable[[RuleContext], Iterable[Hit]]
    blocks: tuple[str, ...] = ()  # runbook step ids this hazard blocks


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    advice: str
    subject: str = ""
    facts: tuple[Fact, ...] = ()
    blocks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "severity": str(self.severity), "subject": self.subject,
            "message": self.message, "advice": self.advice, "blocks": list(self.blocks),
            "facts": [f.to_json() for f in self.facts],
        }


_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def run_rules(rules: Sequence[Rule], ctx: RuleContext) -> list[Finding]:
    findings = [
        Finding(rule.id, hit.severity or rule.severity, hit.message, hit.advice,
                hit.subject, hit.facts, rule.blocks)
        for rule in rules for hit in rule.evaluate(ctx)
    ]
    return sorted(findings, key=lambda f: (_ORDER[f.severity], f.rule, f.subject))
