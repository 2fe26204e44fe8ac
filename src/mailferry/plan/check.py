"""`mailferry check`: gather facts by category, then run the hazard rules on them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import httpx

from mailferry import __version__
from mailferry.plan.dns_facts import dns_facts
from mailferry.plan.facts import Category, Clock, Facts, utc_now
from mailferry.plan.findings import Finding, RuleContext, Severity, run_rules
from mailferry.plan.rdap import RdapClient, domain_facts
from mailferry.plan.resolver import Resolver
from mailferry.plan.rules import CATALOGUE
from mailferry.plan.server_facts import server_facts
from mailferry.project import Migration

ALL_CATEGORIES = frozenset(Category)


@dataclass(frozen=True)
class CheckReport:
    migration: Migration
    checked_at: dt.datetime
    categories: frozenset[Category]
    facts: Facts
    findings: list[Finding]

    @property
    def worst(self) -> Severity | None:
        for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
            if any(f.severity == severity for f in self.findings):
                return severity
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "migration": self.migration.name, "file": str(self.migration.path),
            "checked_at": self.checked_at.isoformat(),
            "categories": sorted(str(c) for c in self.categories),
            "facts": [f.to_json() for f in self.facts],
            "findings": [f.to_json() for f in self.findings],
        }


def gather_facts(migration: Migration, categories: Collection[Category], clock: Clock) -> Facts:
    facts = Facts()
    resolver = Resolver(migration.check.nameservers, migration.check.timeout)
    if Category.DOMAIN in categories:
        with httpx.Client(timeout=migration.check.timeout, follow_redirects=True,
                          headers={"User-Agent": f"mailferry/{__version__}"}) as http:
            client = RdapClient(http, migration.check.rdap_url)
            for domain in migration.domains:
                facts.extend(domain_facts(client, domain, clock))
    if Category.DNS in categories:
        facts.extend(dns_facts(migration, resolver, clock))
    if Category.SERVERS in categories:
        private = resolver if migration.check.nameservers else None
        facts.extend(server_facts(migration, private, clock))
    return facts


def evaluate(migration: Migration, facts: Facts, categories: Collection[Category],
             now: dt.datetime) -> list[Finding]:
    rules = [r for r in CATALOGUE if r.category in categories or r.id == "facts.unknown"]
    return run_rules(rules, RuleContext(migration, facts, now))


def evaluate_rules(migration: Migration, facts: Facts, rule_ids: Collection[str],
                   now: dt.datetime) -> list[Finding]:
    """Only the rules named (the monitor picks those that still matter after the cutover)."""
    rules = [r for r in CATALOGUE if r.id in rule_ids]
    return run_rules(rules, RuleContext(migration, facts, now))


def run_checks(migration: Migration, categories: Collection[Category] = ALL_CATEGORIES,
               clock: Clock = utc_now, now: dt.datetime | None = None) -> CheckReport:
    """`now` is the moment rules reason from (default: the clock), for what-if planning."""
    started = clock()
    facts = gather_facts(migration, categories, clock)
    findings = evaluate(migration, facts, categories, now or started)
    return CheckReport(migration, started, frozenset(categories), facts, findings)
