"""DNS and domain after the cutover, from the planner's fact gathering (never a second copy):

- per resolver of `[check] nameservers`, asked on its own: which MX it answers for each
  domain (old, new, or something else) and the TTL left. Still the old MX after the cutover
  is propagation under way (warn) until a whole TTL has passed; after that the resolver (or
  the nameserver behind it) was not updated: an alert;
- SPF, DMARC, DKIM and the PTR of the new sending IPs as they stand (the planner's rules,
  those that still matter after the cutover);
- the domain's registration by RDAP: registrar, locks, days to expiry.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mailferry.monitor.context import MonitorContext
from mailferry.monitor.results import Check, CheckStatus
from mailferry.plan import (
    Category,
    Fact,
    Facts,
    Resolver,
    Severity,
    dns_facts,
    evaluate_rules,
    gather_facts,
)

# the planner's rules that still say something after the cutover
AFTER_CUTOVER_RULES = ("spf.new-provider-missing", "spf.too-many-lookups",
                       "dkim.missing-under-dmarc", "ptr.mismatch", "domain.on-hold")


def resolvers(ctx: MonitorContext) -> list[Resolver]:
    """One resolver per configured nameserver (the system's when none is configured)."""
    check = ctx.migration.check
    if not check.nameservers:
        return [Resolver((), check.timeout)]
    return [Resolver((server,), check.timeout) for server in check.nameservers]


def dns_checks(ctx: MonitorContext) -> list[Check]:
    now = ctx.clock.now()
    answers: list[tuple[str, Facts]] = []
    for resolver in resolvers(ctx):
        answers.append((resolver.label, Facts(dns_facts(ctx.migration, resolver, ctx.clock.now))))
    checks = [check for domain in ctx.migration.domains
              for check in _propagation(ctx, domain, answers, now)]
    # the first resolver that answered anything stands for "the world" in what follows
    primary = next((facts for _, facts in answers if any(f.known for f in facts)),
                   answers[0][1])
    domain_facts = gather_facts(ctx.migration, {Category.DOMAIN}, ctx.clock.now)
    primary.extend(list(domain_facts))
    checks += _authentication(ctx, primary)
    checks += _registration(ctx, domain_facts, now)
    for finding in evaluate_rules(ctx.migration, primary, AFTER_CUTOVER_RULES, now):
        status = CheckStatus.ALERT if finding.severity == Severity.ERROR else CheckStatus.WARN
        checks.append(Check("rule", f"{finding.rule} {finding.subject}", status,
                            f"{finding.message}. {finding.advice}", {"rule": finding.rule}))
    return checks


def _side(ctx: MonitorContext, hosts: set[str]) -> str:
    new, old = set(ctx.migration.target.mx), set(ctx.migration.source.mx)
    if hosts and hosts <= new:
        return "new"
    if hosts & old:
        return "old" if not hosts & new else "mixed"
    return "none" if not hosts else "other"


def _propagation(ctx: MonitorContext, domain: str, answers: list[tuple[str, Facts]],
                 now: dt.datetime) -> list[Check]:
    cutover = ctx.migration.cutover
    seen: list[tuple[str, Fact | None]] = [(label, facts.get("dns.mx", domain))
                                           for label, facts in answers]
    ttls = [int(f.value["ttl"]) for _, f in seen if f is not None and f.known
            and f.value.get("ttl") is not None]
    longest = max(ttls, default=0)
    checks = []
    for label, fact in seen:
        subject = f"{domain} @ {label.removeprefix('dns ')}"
        if fact is None or not fact.known:
            error = fact.error if fact is not None else "not asked"
            checks.append(Check("dns", subject, CheckStatus.WARN,
                                f"MX of {domain} unknown from {label}: {error}"))
            continue
        hosts = {r["exchange"] for r in fact.value["records"]}
        side = _side(ctx, hosts)
        ttl = fact.value.get("ttl")
        detail: dict[str, Any] = {"domain": domain, "resolver": label, "mx": sorted(hosts),
                                  "side": side, "ttl_left": ttl}
        shown = ", ".join(sorted(hosts)) or "no MX"
        if now < cutover:
            checks.append(Check("dns", subject, CheckStatus.INFO,
                                f"{label} answers {shown} ({side}); the cutover is "
                                f"{cutover:%Y-%m-%d %H:%M %Z}", detail))
        elif side == "new":
            checks.append(Check("dns", subject, CheckStatus.OK,
                                f"{label} answers the new MX {shown}", detail))
        elif now <= cutover + dt.timedelta(seconds=longest):
            until = now + dt.timedelta(seconds=ttl or 0)
            checks.append(Check("dns", subject, CheckStatus.WARN,
                                f"{label} still answers {shown} ({side}); TTL left {ttl} s "
                                f"(until {until:%H:%M %Z}): propagation under way", detail))
        else:
            checks.append(Check("dns", subject, CheckStatus.ALERT,
                                f"{label} still answers {shown} ({side}) more than a TTL "
                                f"({longest} s) after the cutover: this resolver or the "
                                "nameserver it asks was not updated", detail))
    return checks


def _authentication(ctx: MonitorContext, facts: Facts) -> list[Check]:
    """SPF, DMARC, DKIM and PTR as they stand (the rules judge them; here they are shown)."""
    checks = []
    for domain in ctx.migration.domains:
        spf = facts.known("spf", domain)
        dmarc = facts.known("dmarc", domain)
        parts = [f"SPF {spf.value['record'] or 'none'}" if spf else "SPF unknown",
                 f"DMARC p={dmarc.value['policy'] or 'none'}" if dmarc and
                 dmarc.value["record"] else "no DMARC record" if dmarc else "DMARC unknown"]
        for selector in ctx.migration.target.dkim_selectors:
            key = facts.known("dkim", f"{selector}._domainkey.{domain}")
            parts.append(f"DKIM {selector}: " + ("unknown" if key is None else
                                                  "key published" if key.value["has_key"]
                                                  else "no key"))
        checks.append(Check("auth", domain, CheckStatus.OK if spf and dmarc else
                            CheckStatus.WARN, "; ".join(parts),
                            {"spf": spf.value if spf else None,
                             "dmarc": dmarc.value if dmarc else None}))
    for address in ctx.migration.target.sending_ips:
        ptr = facts.known("ptr", address)
        if ptr is None:
            continue  # unknown: facts.unknown is not run here, the dns check warns
        confirmed = ptr.value["forward_match"]
        checks.append(Check("ptr", address, CheckStatus.OK if confirmed else CheckStatus.INFO,
                            f"PTR {', '.join(ptr.value['names']) or 'none'}"
                            + (", forward-confirmed" if confirmed else ""), ptr.value))
    return checks


def _registration(ctx: MonitorContext, facts: Facts, now: dt.datetime) -> list[Check]:
    checks = []
    days_alert = ctx.monitor.domain_expiry_days
    for domain in ctx.migration.domains:
        expires = facts.get("rdap.expires", domain)
        if expires is None or not expires.known:
            error = expires.error if expires is not None else "not asked"
            checks.append(Check("domain", domain, CheckStatus.WARN,
                                f"registration of {domain} unknown: {error}"))
            continue
        registrar = facts.known("rdap.registrar", domain)
        status = facts.known("rdap.status", domain)
        locks = [s for s in (status.value if status else []) if "Prohibited" in s]
        detail = {"registrar": registrar.value if registrar else None,
                  "status": status.value if status else [], "expires": expires.value}
        about = (f"registrar {detail['registrar'] or 'unknown'}; locks: "
                 f"{', '.join(locks) or 'none'}")
        if expires.value is None:
            checks.append(Check("domain", domain, CheckStatus.WARN,
                                f"the registry gives no expiry date; {about}", detail))
            continue
        left = (dt.datetime.fromisoformat(expires.value) - now).days
        detail["days_left"] = left
        status_now = (CheckStatus.ALERT if left <= days_alert else
                      CheckStatus.WARN if left <= 2 * days_alert else CheckStatus.OK)
        checks.append(Check("domain", domain, status_now,
                            f"expires {expires.value[:10]} ({left} days); {about}", detail))
    return checks
