"""The hazard catalogue: every rule, by area. Ids are stable; docs/hazards.md lists them."""

from __future__ import annotations

from mailferry.plan.findings import Rule
from mailferry.plan.rules import clients, dmarc, dns, domain, process, schedule, servers, unknown

CATALOGUE: tuple[Rule, ...] = (
    *domain.RULES, *dns.RULES, *clients.RULES, *servers.RULES, *schedule.RULES,
    *process.RULES, *dmarc.RULES, *unknown.RULES,
)
RULES_BY_ID = {rule.id: rule for rule in CATALOGUE}

__all__ = ["CATALOGUE", "RULES_BY_ID"]
