"""Planning a cutover: facts from the real world (RDAP, DNS, servers), hazard rules
over them, and a dated runbook. The CLI uses only what is exported here."""

from mailferry.plan.check import ALL_CATEGORIES, CheckReport, evaluate, run_checks
from mailferry.plan.facts import Category, Fact, Facts
from mailferry.plan.findings import Finding, Severity
from mailferry.plan.rules import CATALOGUE, RULES_BY_ID

__all__ = [
    "ALL_CATEGORIES",
    "CATALOGUE",
    "RULES_BY_ID",
    "Category",
    "CheckReport",
    "Fact",
    "Facts",
    "Finding",
    "Severity",
    "evaluate",
    "run_checks",
]
