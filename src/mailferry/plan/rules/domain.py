"""Hazards of the domain itself, from RDAP: transfers, locks, holds, expiry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from mailferry.plan.constraints import (
    EXPIRY_MARGIN_DAYS,
    TRANSFER_DAYS,
    TRANSFER_LOCK_DAYS,
    dns_change_window,
    overlaps,
    parse_instant,
    start_of_day,
    transfer_blackout,
)
from mailferry.plan.facts import Category
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity

HOLD_CODES = ("serverHold", "clientHold", "redemptionPeriod", "pendingDelete", "pendingRestore")
DNS_STEPS = ("lower-ttl", "cutover")


def _fmt(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def transfer_during_dns_change(ctx: RuleContext) -> Iterator[Hit]:
    window = dns_change_window(ctx.migration, ctx.facts)
    planned = ctx.migration.domain.registrar_transfer
    advice = ("Change DNS first and transfer the domain after the rollback period, or "
              "postpone the cutover until the transfer is complete, or move DNS hosting "
              "away from the registrar before either.")
    for domain in ctx.migration.domains:
        status = ctx.facts.known("rdap.status", domain)
        if status is not None and "pendingTransfer" in status.value:
            blackout = transfer_blackout(ctx.now)
            if overlaps(blackout, window):
                yield Hit(f"{domain} is being transferred to another registrar now; DNS "
                          f"cannot be changed until about {_fmt(blackout[1])}, inside the "
                          f"window {_fmt(window[0])} - {_fmt(window[1])} in which DNS must "
                          "change", advice, (status,), domain)
        if planned is not None:
            blackout = transfer_blackout(start_of_day(planned, ctx.migration))
            if overlaps(blackout, window):
                used = tuple(f for f in [ctx.facts.known("dns.mx", domain)] if f)
                yield Hit(f"the registrar transfer planned for {planned} blocks DNS changes "
                          f"for up to {TRANSFER_DAYS} days, inside the window "
                          f"{_fmt(window[0])} - {_fmt(window[1])} in which DNS must change",
                          advice, used, domain)


def transfer_locked(ctx: RuleContext) -> Iterator[Hit]:
    if ctx.migration.domain.registrar_transfer is None:
        return
    for domain in ctx.migration.domains:
        status = ctx.facts.known("rdap.status", domain)
        if status is None:
            continue
        if "serverTransferProhibited" in status.value:
            yield Hit(f"{domain} has serverTransferProhibited: the registry refuses transfers",
                      "Ask the registrar to have the registry lock lifted before the planned "
                      "transfer, or drop the transfer from this migration.", (status,), domain)
        elif "clientTransferProhibited" in status.value:
            yield Hit(f"{domain} has clientTransferProhibited: the planned transfer will be "
                      "refused until the lock is removed",
                      "Remove the transfer lock at the current registrar the day before the "
                      "transfer, and only after the rollback period.", (status,), domain,
                      Severity.WARNING)


def update_locked(ctx: RuleContext) -> Iterator[Hit]:
    moving_dns = bool(ctx.migration.domain.new_nameservers)
    for domain in ctx.migration.domains:
        status = ctx.facts.known("rdap.status", domain)
        if status is None:
            continue
        codes = [c for c in ("clientUpdateProhibited", "serverUpdateProhibited")
                 if c in status.value]
        if codes:
            yield Hit(f"{domain} has {', '.join(codes)}: its nameservers cannot be changed",
                      "Have the lock lifted before changing nameservers; records inside the "
                      "zone (MX, TXT) are not affected by it.", (status,), domain,
                      None if moving_dns else Severity.WARNING)


def transfer_too_soon(ctx: RuleContext) -> Iterator[Hit]:
    planned = ctx.migration.domain.registrar_transfer
    if planned is None:
        return
    for domain in ctx.migration.domains:
        for name in ("rdap.last_transfer", "rdap.registered"):
            fact = ctx.facts.known(name, domain)
            since = parse_instant(fact.value) if fact else None
            if fact is None or since is None:
                continue
            free = since.date() + dt.timedelta(days=TRANSFER_LOCK_DAYS)
            if planned < free:
                what = "transferred" if name == "rdap.last_transfer" else "registered"
                yield Hit(f"{domain} was {what} on {since.date()}; registrars refuse a "
                          f"transfer before {free} (ICANN 60-day lock), planned {planned}",
                          f"Plan the transfer on or after {free}.", (fact,), domain)
                break


def expires_soon(ctx: RuleContext) -> Iterator[Hit]:
    needed = ctx.migration.cutover + dt.timedelta(days=EXPIRY_MARGIN_DAYS)
    for domain in ctx.migration.domains:
        fact = ctx.facts.known("rdap.expires", domain)
        expires = parse_instant(fact.value) if fact else None
        if fact is not None and expires is not None and expires < needed:
            yield Hit(f"{domain} expires on {expires.date()}, less than {EXPIRY_MARGIN_DAYS} "
                      f"days after the cutover", "Renew the domain before the migration starts.",
                      (fact,), domain)


def on_hold(ctx: RuleContext) -> Iterator[Hit]:
    for domain in ctx.migration.domains:
        status = ctx.facts.known("rdap.status", domain)
        codes = [c for c in HOLD_CODES if status is not None and c in status.value]
        if status is not None and codes:
            yield Hit(f"{domain} has {', '.join(codes)}: it may not resolve at all",
                      "Resolve the hold or restore the domain with the registrar first.",
                      (status,), domain)


RULES = (
    Rule("domain.transfer-during-dns-change", Severity.ERROR, Category.DOMAIN,
         "Registrar transfer pending or planned while DNS must change",
         transfer_during_dns_change, (*DNS_STEPS, "registrar-transfer")),
    Rule("domain.transfer-locked", Severity.ERROR, Category.DOMAIN,
         "Transfer lock on a domain whose transfer is planned", transfer_locked,
         ("registrar-transfer",)),
    Rule("domain.update-locked", Severity.ERROR, Category.DOMAIN,
         "Update lock forbids nameserver changes", update_locked, ("change-nameservers",)),
    Rule("domain.transfer-too-soon", Severity.ERROR, Category.DOMAIN,
         "Planned transfer inside ICANN's 60-day lock", transfer_too_soon,
         ("registrar-transfer",)),
    Rule("domain.expires-soon", Severity.ERROR, Category.DOMAIN,
         "Domain expires before cutover + 60 days", expires_soon, ("cutover",)),
    Rule("domain.on-hold", Severity.ERROR, Category.DOMAIN,
         "Domain on hold, in redemption or pending deletion", on_hold, ("cutover",)),
)
