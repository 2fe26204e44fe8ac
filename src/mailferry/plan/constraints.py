"""The timing facts of the trade, in one place: rules and the runbook use the same numbers.

Sources: ICANN Transfer Policy (a losing registrar has 5 days to act, then the transfer
completes; no transfer within 60 days of registration or a previous transfer); MX changes
reach everybody only after the old TTL has run out.
"""

from __future__ import annotations

import datetime as dt

from mailferry.plan.facts import Facts
from mailferry.project import Migration

TRANSFER_DAYS = 5  # ICANN: auto-approval after 5 days; DNS changes are blocked meanwhile
TRANSFER_LOCK_DAYS = 60  # ICANN 60-day lock after registration or transfer
EXPIRY_MARGIN_DAYS = 60  # a domain must not expire within this after cutover
LOW_TTL = 300  # what the MX TTL is lowered to before cutover
DNS_MARGIN = dt.timedelta(days=1)  # slack before the TTL lowering, for people and registrars


def mx_ttl(migration: Migration, facts: Facts) -> int | None:
    """The highest MX TTL of the migrated domains, if known."""
    ttls = []
    for domain in migration.domains:
        fact = facts.known("dns.mx", domain)
        if fact is None:
            return None
        ttls.append(int(fact.value.get("ttl") or 0))
    return max(ttls, default=0)


def dns_change_window(migration: Migration, facts: Facts) -> tuple[dt.datetime, dt.datetime]:
    """When DNS records must be changeable: from lowering the MX TTL (one old TTL plus a
    margin before cutover) until the rollback period ends (the old MX may be restored)."""
    ttl = mx_ttl(migration, facts) or 0
    start = migration.cutover - dt.timedelta(seconds=ttl) - DNS_MARGIN
    end = migration.cutover + dt.timedelta(days=migration.plan.rollback_days)
    return start, end


def start_of_day(day: dt.date, migration: Migration) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), migration.timezone)


def transfer_blackout(start: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return start, start + dt.timedelta(days=TRANSFER_DAYS)


def overlaps(a: tuple[dt.datetime, dt.datetime], b: tuple[dt.datetime, dt.datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def parse_instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None
