"""Planning a cutover: facts from the real world (RDAP, DNS, servers), hazard rules
over them, and a dated runbook. The CLI uses only what is exported here."""

from mailferry.plan.check import (
    ALL_CATEGORIES,
    CheckReport,
    evaluate,
    evaluate_rules,
    gather_facts,
    run_checks,
)
from mailferry.plan.dns_facts import dns_facts
from mailferry.plan.facts import Category, Clock, Fact, FactRecorder, Facts, utc_now
from mailferry.plan.findings import Finding, Severity
from mailferry.plan.render import runbook_html, runbook_icalendar, runbook_markdown
from mailferry.plan.resolver import Lookup, Resolver
from mailferry.plan.rules import CATALOGUE, RULES_BY_ID
from mailferry.plan.rules.dmarc import DMARC_SOURCE
from mailferry.plan.runbook import Runbook, Step, build_runbook

__all__ = [
    "ALL_CATEGORIES",
    "CATALOGUE",
    "DMARC_SOURCE",
    "RULES_BY_ID",
    "Category",
    "CheckReport",
    "Clock",
    "Fact",
    "FactRecorder",
    "Facts",
    "Finding",
    "Lookup",
    "Resolver",
    "Runbook",
    "Severity",
    "Step",
    "build_runbook",
    "dns_facts",
    "evaluate",
    "evaluate_rules",
    "gather_facts",
    "run_checks",
    "runbook_html",
    "runbook_icalendar",
    "runbook_markdown",
    "utc_now",
]
