"""DNS facts of the migrated domains: delegation, MX with TTLs, mail authentication
(SPF, DMARC, DKIM), client discovery (SRV, autoconfig, autodiscover), MTA-STS, and the
PTR of the new provider's sending IPs checked against forward DNS."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mailferry.plan.facts import Clock, Fact, FactRecorder
from mailferry.plan.mailauth import dkim_has_key, parse_dmarc
from mailferry.plan.mta_sts import PolicyError, fetch_policy
from mailferry.plan.resolver import Lookup, Resolver
from mailferry.plan.spf import evaluate_spf
from mailferry.project import Migration

DISCOVERY_SRV = ("_imaps._tcp", "_imap._tcp", "_submission._tcp", "_submissions._tcp")
DISCOVERY_HOSTS = ("autoconfig", "autodiscover")


_Value = Callable[[Lookup], object]


class LookupFailed(Exception):
    """A lookup that did not get an answer: the fact that needed it is unknown."""


def dns_facts(migration: Migration, resolver: Resolver, clock: Clock) -> list[Fact]:
    rec = FactRecorder(resolver.label, clock)
    facts: list[Fact] = []
    mail_hosts: set[str] = set(migration.source.mx) | set(migration.target.mx)
    for domain in migration.domains:
        facts += _records(rec, resolver, domain)
        mx = resolver.lookup(domain, "MX")
        facts.append(_fact(rec, "dns.mx", domain, mx, _mx_value))
        mail_hosts.update(_mx_hosts(mx))
        facts.append(_spf(rec, resolver, domain))
        dmarc = resolver.txt(f"_dmarc.{domain}")
        facts.append(_fact(rec, "dmarc", domain, dmarc, _dmarc_value))
        for selector in migration.target.dkim_selectors:
            name = f"{selector}._domainkey.{domain}"
            facts.append(_fact(rec, "dkim", name, resolver.txt(name),
                               lambda lk: {"records": list(lk.records),
                                           "has_key": dkim_has_key(lk.records)}))
        facts += _discovery(rec, resolver, domain)
        facts += _mta_sts_policy(migration, resolver, domain, clock)
    if migration.target.spf_include:  # its lookups count once it is included
        facts.append(_spf(rec, resolver, migration.target.spf_include))
    for host in sorted(mail_hosts):
        facts.append(_addresses(rec, resolver, host))
    for address in migration.target.sending_ips:
        facts.append(_ptr(rec, resolver, address))
    return facts


def _records(rec: FactRecorder, resolver: Resolver, domain: str) -> list[Fact]:
    return [
        _fact(rec, "dns.ns", domain, resolver.lookup(domain, "NS"),
              lambda lk: sorted(r.rstrip(".").lower() for r in lk.records)),
        _fact(rec, "dns.soa", domain, resolver.lookup(domain, "SOA"),
              lambda lk: lk.records[0] if lk.records else None),
    ]


def _fact(rec: FactRecorder, name: str, subject: str, lookup: Lookup,
          value: _Value) -> Fact:
    if lookup.error:
        return rec.unknown(name, subject, lookup.error)
    return rec.ok(name, subject, value(lookup))


def _mx_value(lookup: Lookup) -> dict[str, object]:
    pairs = sorted((int(text.partition(" ")[0]), text.partition(" ")[2].rstrip(".").lower())
                   for text in lookup.records)
    return {"records": [{"preference": p, "exchange": x} for p, x in pairs], "ttl": lookup.ttl}


def _mx_hosts(lookup: Lookup) -> Iterable[str]:
    return (text.partition(" ")[2].rstrip(".").lower() for text in lookup.records
            if text.partition(" ")[2] not in ("", "."))


def _dmarc_value(lookup: Lookup) -> dict[str, object]:
    dmarc = parse_dmarc(lookup.records)
    if dmarc is None:
        return {"record": None, "policy": None, "pct": None, "enforcing": False}
    return {"record": dmarc.record, "policy": dmarc.policy, "pct": dmarc.pct,
            "enforcing": dmarc.enforcing}


def _spf(rec: FactRecorder, resolver: Resolver, domain: str) -> Fact:
    def fetch(name: str) -> list[str]:
        lookup = resolver.txt(name)
        if lookup.error:
            raise LookupFailed(lookup.error)
        return list(lookup.records)

    try:
        result = evaluate_spf(domain, fetch)
    except LookupFailed as exc:
        return rec.unknown("spf", domain, str(exc))
    return rec.ok("spf", domain, {"record": result.record, "lookups": result.lookups,
                                  "domains": result.domains, "errors": result.errors})


def _discovery(rec: FactRecorder, resolver: Resolver, domain: str) -> list[Fact]:
    facts = [_fact(rec, "dns.srv", f"{service}.{domain}", resolver.lookup(
        f"{service}.{domain}", "SRV"), lambda lk: sorted(lk.records))
        for service in DISCOVERY_SRV]
    for host in DISCOVERY_HOSTS:
        name = f"{host}.{domain}"
        facts.append(_fact(rec, "dns.cname", name, resolver.lookup(name, "CNAME"),
                           lambda lk: [r.rstrip(".").lower() for r in lk.records]))
    facts.append(_fact(rec, "mta_sts", domain, resolver.txt(f"_mta-sts.{domain}"),
                       lambda lk: [r for r in lk.records if r.lower().startswith("v=stsv1")]))
    return facts


def _mta_sts_policy(migration: Migration, resolver: Resolver, domain: str,
                    clock: Clock) -> list[Fact]:
    """The policy itself, when the domain announces one with an _mta-sts record. A policy
    host without an address is known (value None: no sender can fetch a policy)."""
    announced = resolver.txt(f"_mta-sts.{domain}")
    dns_rec = FactRecorder(resolver.label, clock)
    if announced.error:
        return [dns_rec.unknown("mta_sts.policy", domain, announced.error)]
    if not any(r.lower().startswith("v=stsv1") for r in announced.records):
        return []
    host = f"mta-sts.{domain}"
    address = resolver.lookup(host, "A")
    if address.error:
        return [dns_rec.unknown("mta_sts.policy", domain, address.error)]
    if not address.records:
        return [dns_rec.ok("mta_sts.policy", domain, None)]
    check = migration.check
    rec = FactRecorder(f"https {host}:{check.https_port}", clock)
    try:
        policy = fetch_policy(domain, address.records[0], port=check.https_port,
                              ca_file=check.ca_file, timeout=check.timeout)
    except PolicyError as exc:
        return [rec.unknown("mta_sts.policy", domain, str(exc))]
    return [rec.ok("mta_sts.policy", domain, {"mode": policy.mode, "mx": list(policy.mx),
                                              "max_age": policy.max_age})]


def _addresses(rec: FactRecorder, resolver: Resolver, host: str) -> Fact:
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        lookup = resolver.lookup(host, rdtype)
        if lookup.error:
            return rec.unknown("dns.addresses", host, lookup.error)
        found += lookup.records
    return rec.ok("dns.addresses", host, sorted(found))


def _ptr(rec: FactRecorder, resolver: Resolver, address: str) -> Fact:
    """PTR of a sending IP and whether a PTR name resolves back to it (FCrDNS)."""
    lookup = resolver.reverse(address)
    if lookup.error:
        return rec.unknown("ptr", address, lookup.error)
    names = sorted(r.rstrip(".").lower() for r in lookup.records)
    matching = []
    for name in names:
        forward = resolver.lookup(name, "AAAA" if ":" in address else "A")
        if forward.error:
            return rec.unknown("ptr", address, forward.error)
        if address in forward.records:
            matching.append(name)
    return rec.ok("ptr", address, {"names": names, "forward_match": matching})
