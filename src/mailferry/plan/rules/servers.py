"""Hazards of the servers: unreachable, bad or expiring certificates, missing capabilities."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from mailferry.plan.constraints import parse_instant
from mailferry.plan.facts import Category
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity

# What the copy needs from IMAP servers (docs/imap-client.md): exact, incremental, fast.
IMAP_CAPABILITIES = ("UIDPLUS", "CONDSTORE", "SPECIAL-USE", "MOVE", "LITERAL+")


def unreachable(ctx: RuleContext) -> Iterator[Hit]:
    for fact in ctx.facts:
        if fact.name == "server.reachable" and fact.known and not fact.value["reachable"]:
            yield Hit(f"{fact.subject} ({fact.value['side']}) is not reachable: "
                      f"{fact.value['error']}", "Check the host name, port and firewall.",
                      (fact,), fact.subject)


def tls_invalid(ctx: RuleContext) -> Iterator[Hit]:
    for fact in ctx.facts:
        if fact.name == "tls" and fact.known and not fact.value["verified"]:
            yield Hit(f"{fact.subject}: TLS is not usable: {fact.value['error']}",
                      "Fix the certificate (or, for a private CA, set [check] ca_file).",
                      (fact,), fact.subject)


def tls_expires(ctx: RuleContext) -> Iterator[Hit]:
    m = ctx.migration
    needed = m.cutover + dt.timedelta(days=m.plan.delta_days + m.plan.rollback_days)
    for fact in ctx.facts:
        if fact.name != "tls" or not fact.known:
            continue
        not_after = parse_instant(fact.value["not_after"])
        if not_after is not None and not_after < needed:
            yield Hit(f"{fact.subject}: the certificate expires on {not_after:%Y-%m-%d}, before "
                      f"the rollback period ends ({needed:%Y-%m-%d})",
                      "Have the certificate renewed (or automatic renewal confirmed) before "
                      "the migration.", (fact,), fact.subject)


def missing_capabilities(ctx: RuleContext) -> Iterator[Hit]:
    for fact in ctx.facts:
        if (fact.name != "capabilities" or not fact.known or fact.value["protocol"] != "imap"
                or not fact.value["after_login"]):
            continue  # most servers announce these only after login
        present = {c.upper() for c in fact.value["list"]}
        missing = [c for c in IMAP_CAPABILITIES if c not in present]
        if missing:
            yield Hit(f"{fact.subject} lacks {', '.join(missing)}: the copy works but slower "
                      "or with less certainty", "Expect longer sync times; check the provider's "
                      "documentation for an IMAP setting that enables them.", (fact,),
                      fact.subject)


RULES = (
    Rule("server.unreachable", Severity.ERROR, Category.SERVERS, "Server not reachable",
         unreachable, ("pilot",)),
    Rule("tls.invalid", Severity.ERROR, Category.SERVERS, "TLS certificate not valid",
         tls_invalid, ("pilot",)),
    Rule("tls.expires-soon", Severity.ERROR, Category.SERVERS,
         "TLS certificate expires before the rollback period ends", tls_expires, ("cutover",)),
    Rule("imap.missing-capabilities", Severity.WARNING, Category.SERVERS,
         "IMAP server lacks capabilities the copy relies on", missing_capabilities, ()),
)
