"""Hazards in DNS: MX TTL, SPF, DKIM under an enforcing DMARC, PTR of sending IPs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from mailferry.plan.facts import Category
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity
from mailferry.plan.spf import LOOKUP_LIMIT


def mx_ttl_too_high(ctx: RuleContext) -> Iterator[Hit]:
    for domain in ctx.migration.domains:
        fact = ctx.facts.known("dns.mx", domain)
        if fact is None or not fact.value.get("ttl"):
            continue
        ttl = int(fact.value["ttl"])
        latest = ctx.migration.cutover - dt.timedelta(seconds=ttl)
        if latest < ctx.now:
            yield Hit(f"the MX TTL of {domain} is {ttl} s: it had to be lowered by "
                      f"{latest:%Y-%m-%d %H:%M %Z} for the cutover to take effect on time",
                      f"Lower the MX TTL now and move the cutover to "
                      f"{ctx.now + dt.timedelta(seconds=ttl):%Y-%m-%d %H:%M} or later.",
                      (fact,), domain)


def spf_missing_provider(ctx: RuleContext) -> Iterator[Hit]:
    include = ctx.migration.target.spf_include
    if include is None:
        return
    for domain in ctx.migration.domains:
        fact = ctx.facts.known("spf", domain)
        if fact is None:
            continue
        if fact.value["record"] is None:
            yield Hit(f"{domain} has no SPF record", f"Publish 'v=spf1 include:{include} "
                      "~all' (plus the old provider's include until cutover).", (fact,), domain)
        elif include not in fact.value["domains"]:
            yield Hit(f"the SPF record of {domain} does not include {include}: mail sent "
                      "through the new provider will fail SPF",
                      f"Add 'include:{include}' before the pilot starts.", (fact,), domain)


def spf_too_many_lookups(ctx: RuleContext) -> Iterator[Hit]:
    include = ctx.migration.target.spf_include
    for domain in ctx.migration.domains:
        fact = ctx.facts.known("spf", domain)
        if fact is None or fact.value["record"] is None:
            continue
        lookups = int(fact.value["lookups"])
        if lookups > LOOKUP_LIMIT:
            yield Hit(f"the SPF record of {domain} needs {lookups} DNS lookups (limit "
                      f"{LOOKUP_LIMIT}): receivers treat it as PermError", _FLATTEN, (fact,),
                      domain)
            continue
        added = ctx.facts.known("spf", include) if include else None
        if include and include not in fact.value["domains"] and added is not None:
            projected = lookups + 1 + int(added.value["lookups"])
            if projected > LOOKUP_LIMIT:
                yield Hit(f"adding include:{include} to the SPF record of {domain} makes "
                          f"{projected} DNS lookups (limit {LOOKUP_LIMIT})", _FLATTEN,
                          (fact, added), domain)


_FLATTEN = ("Remove includes of services no longer used (the old provider's after "
            "cutover), or replace includes by ip4:/ip6: ranges.")


def dkim_missing_under_dmarc(ctx: RuleContext) -> Iterator[Hit]:
    selectors = ctx.migration.target.dkim_selectors
    for domain in ctx.migration.domains:
        dmarc = ctx.facts.known("dmarc", domain)
        if dmarc is None or not dmarc.value["enforcing"]:
            continue
        keys = [ctx.facts.get("dkim", f"{s}._domainkey.{domain}") for s in selectors]
        if any(k is None or not k.known for k in keys):
            continue  # not known: facts.unknown says so
        if not any(k is not None and k.value["has_key"] for k in keys):
            named = ", ".join(selectors) or "none configured"
            yield Hit(f"DMARC of {domain} is p={dmarc.value['policy']} but there is no DKIM "
                      f"key for the new provider (selectors: {named}): its mail will be "
                      f"{'rejected' if dmarc.value['policy'] == 'reject' else 'quarantined'}",
                      "Publish the new provider's DKIM key and set dkim_selectors before the "
                      "pilot, or relax DMARC to p=none for the transition.",
                      (dmarc, *(k for k in keys if k is not None)), domain)


def ptr_mismatch(ctx: RuleContext) -> Iterator[Hit]:
    for address in ctx.migration.target.sending_ips:
        fact = ctx.facts.known("ptr", address)
        if fact is None:
            continue
        if not fact.value["names"]:
            yield Hit(f"sending IP {address} has no PTR record: many receivers reject such mail",
                      "Ask the new provider (the owner of the IP) to set a PTR record.",
                      (fact,), address)
        elif not fact.value["forward_match"]:
            yield Hit(f"sending IP {address} has PTR {', '.join(fact.value['names'])} but that "
                      "name does not resolve back to it", "Make the PTR name's A/AAAA record "
                      "point to the IP (forward-confirmed reverse DNS).", (fact,), address)


RULES = (
    Rule("dns.mx-ttl-too-high", Severity.ERROR, Category.DNS,
         "MX TTL too high to lower before cutover", mx_ttl_too_high, ("lower-ttl", "cutover")),
    Rule("spf.new-provider-missing", Severity.ERROR, Category.DNS,
         "SPF does not authorise the new provider", spf_missing_provider, ("pilot",)),
    Rule("spf.too-many-lookups", Severity.ERROR, Category.DNS,
         "SPF needs more than 10 DNS lookups", spf_too_many_lookups, ("pilot",)),
    Rule("dkim.missing-under-dmarc", Severity.ERROR, Category.DNS,
         "No DKIM for the new provider while DMARC enforces", dkim_missing_under_dmarc,
         ("pilot", "cutover")),
    Rule("ptr.mismatch", Severity.ERROR, Category.DNS,
         "Sending IP without a matching PTR", ptr_mismatch, ("pilot",)),
)
