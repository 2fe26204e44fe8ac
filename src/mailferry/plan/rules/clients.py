"""Hazards on the client side of DNS: the names mail clients use to find their servers
(RFC 6186 SRV records, autoconfig/autodiscover) still pointing at the old provider, and an
MTA-STS policy that does not list the new MX (senders that enforce it would not deliver)."""

from __future__ import annotations

from collections.abc import Iterator

from mailferry.plan.dns_facts import DISCOVERY_HOSTS, DISCOVERY_SRV
from mailferry.plan.facts import Category
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity
from mailferry.plan.mta_sts import mx_covered
from mailferry.project import Migration, ProviderSettings


def _zone_of(host: str) -> str:
    """The last two labels: a provider's hosts share them (imap.x.example, mx1.x.example).
    An approximation of the registered domain, good enough to tell two providers apart."""
    return ".".join(host.lower().rstrip(".").split(".")[-2:])


def _hosts(account: ProviderSettings) -> set[str]:
    return {e.host.lower() for e in account.endpoints} | {h.lower() for h in account.mx}


def _old_provider(host: str, m: Migration) -> bool:
    """`host` is one of the old provider's, or in its zone and not in the new one's."""
    host = host.lower().rstrip(".")
    old, new = _hosts(m.source), _hosts(m.target)
    if host in new:
        return False
    if host in old:
        return True
    return _zone_of(host) in {_zone_of(h) for h in old} - {_zone_of(h) for h in new}


def _severity(ctx: RuleContext) -> Severity:
    """Before the cutover it is a to-do; at or after it, clients are already misled."""
    return Severity.ERROR if ctx.now >= ctx.migration.cutover else Severity.WARNING


def discovery_points_to_old_provider(ctx: RuleContext) -> Iterator[Hit]:
    m = ctx.migration
    imap = m.target.imap[0]
    for domain in m.domains:
        for service in DISCOVERY_SRV:
            name = f"{service}.{domain}"
            fact = ctx.facts.known("dns.srv", name)
            if fact is None:
                continue
            for record in fact.value:  # "priority weight port target."
                parts = str(record).split()
                if len(parts) == 4 and parts[3] != "." and _old_provider(parts[3], m):
                    new = imap if service.startswith("_imap") else (m.target.smtp or (None,))[0]
                    where = f"{new.host}:{new.port}" if new else "the new provider's server"
                    yield Hit(f"{name} (RFC 6186 SRV) points at the old provider "
                              f"({parts[3].rstrip('.')}:{parts[2]}): mail clients that look "
                              "it up keep connecting there", f"At cutover, point it at "
                              f"{where} (lower its TTL a day before), or delete it.",
                              (fact,), name, _severity(ctx))
        for host in DISCOVERY_HOSTS:
            name = f"{host}.{domain}"
            fact = ctx.facts.known("dns.cname", name)
            if fact is None:
                continue
            for target in fact.value:
                if _old_provider(target, m):
                    yield Hit(f"{name} is an alias of {target} (the old provider): "
                              f"{'Thunderbird' if host == 'autoconfig' else 'Outlook'} and "
                              "other clients that set themselves up from it get the old "
                              "servers", f"At cutover, point {name} at the host that runs "
                              "'mailferry autoconfig serve' (or the new provider's), over "
                              "HTTPS.", (fact,), name, _severity(ctx))


def mta_sts_misses_new_mx(ctx: RuleContext) -> Iterator[Hit]:
    new_mx = ctx.migration.target.mx
    if not new_mx:
        return
    for domain in ctx.migration.domains:
        fact = ctx.facts.known("mta_sts.policy", domain)
        if fact is None or fact.value is None or fact.value["mode"] == "none":
            continue
        missing = [mx for mx in new_mx if not mx_covered(mx, tuple(fact.value["mx"]))]
        if not missing:
            continue
        enforce = fact.value["mode"] == "enforce"
        consequence = ("senders that enforce MTA-STS will not deliver to it: mail bounces or "
                       "waits in their queues" if enforce else
                       "senders report failures (mode testing: mail still flows)")
        yield Hit(f"the MTA-STS policy of {domain} (mode {fact.value['mode']}, mx "
                  f"{', '.join(fact.value['mx']) or 'none'}) does not cover the new MX "
                  f"{', '.join(missing)}: {consequence}",
                  f"Add 'mx: {missing[0]}' to the policy and change the id of the _mta-sts "
                  f"record, at least max_age ({fact.value['max_age']} s) before the MX "
                  "changes; or set mode: testing until then.", (fact,), domain,
                  Severity.ERROR if enforce else Severity.WARNING)


RULES = (
    Rule("clients.discovery-old-provider", Severity.WARNING, Category.DNS,
         "Client discovery (SRV, autoconfig, autodiscover) points at the old provider",
         discovery_points_to_old_provider, ("cutover",)),
    Rule("mta-sts.new-mx-not-covered", Severity.ERROR, Category.DNS,
         "The MTA-STS policy does not list the new MX", mta_sts_misses_new_mx,
         ("cutover",)),
)
