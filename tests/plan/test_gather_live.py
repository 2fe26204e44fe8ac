"""Facts gathered from real local servers (Knot DNS and an RDAP server), each compared with
what the test served: the zones below are the whole truth, so every fact has one right value.

The PTR records are the trap: a sending IP whose PTR name does not resolve back to it (or
does not resolve at all) is not forward-confirmed, and receivers treat it so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailferry.plan import Category
from mailferry.plan.check import gather_facts
from mailferry.project import load
from testbed.dns import KnotDns, zone_text
from testbed.plankit import NOW, example
from testbed.rdap import RdapServer

DKIM_KEY = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC3nm1"
ZONES = {
    "bank.example": zone_text("bank.example", f"""
@ 86400 IN MX 10 mx1.oldmail.example.
@ 86400 IN MX 20 mx2.oldmail.example.
@ IN TXT "v=spf1 include:spf.oldmail.example -all"
_dmarc IN TXT "v=DMARC1; p=quarantine; pct=50; rua=mailto:dmarc@bank.example"
nm1._domainkey IN TXT "{DKIM_KEY}"
old1._domainkey IN TXT "v=DKIM1; k=rsa; p=MIGfMA0old"
_imaps._tcp IN SRV 0 1 993 imap.oldmail.example.
_submissions._tcp IN SRV 5 10 465 smtp.oldmail.example.
autodiscover IN CNAME autodiscover.oldmail.example.
_mta-sts IN TXT "v=STSv1; id=20260101"
"""),
    "oldmail.example": zone_text("oldmail.example", """
mx1 IN A 127.0.0.1
mx2 IN A 127.0.0.2
mx2 IN AAAA ::1
spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
"""),
    "newmail.example": zone_text("newmail.example", """
mx IN A 127.0.0.3
spf IN TXT "v=spf1 ip4:198.51.100.0/24 include:_spf2.newmail.example -all"
_spf2 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
out26 IN A 198.51.100.26
out27 IN A 203.0.113.27
out28 IN A 198.51.100.28
"""),
    # 26: confirmed; 27: its name resolves, to another address; 28: two names, one of
    # which does not exist; 29: no PTR at all
    "100.51.198.in-addr.arpa": zone_text("100.51.198.in-addr.arpa", """
26 IN PTR out26.newmail.example.
27 IN PTR out27.newmail.example.
28 IN PTR out28.newmail.example.
28 IN PTR ghost.newmail.example.
"""),
}
SENDING_IPS = ["198.51.100.26", "198.51.100.27", "198.51.100.28", "198.51.100.29"]

EXPECTED_DNS: dict[str, Any] = {
    "dns.ns[bank.example]": ["ns1.bank.example"],
    "dns.soa[bank.example]":
        "ns1.bank.example. hostmaster.bank.example. 2026010101 3600 600 86400 300",
    "dns.mx[bank.example]": {"records": [{"preference": 10, "exchange": "mx1.oldmail.example"},
                                         {"preference": 20, "exchange": "mx2.oldmail.example"}],
                             "ttl": 86400},
    "spf[bank.example]": {"record": "v=spf1 include:spf.oldmail.example -all", "lookups": 1,
                          "domains": ["spf.oldmail.example"], "errors": []},
    "dmarc[bank.example]": {
        "record": "v=DMARC1; p=quarantine; pct=50; rua=mailto:dmarc@bank.example",
        "policy": "quarantine", "pct": 50, "enforcing": True},
    "dkim[nm1._domainkey.bank.example]": {"records": [DKIM_KEY], "has_key": True},
    "dns.srv[_imaps._tcp.bank.example]": ["0 1 993 imap.oldmail.example."],
    "dns.srv[_imap._tcp.bank.example]": [],
    "dns.srv[_submission._tcp.bank.example]": [],
    "dns.srv[_submissions._tcp.bank.example]": ["5 10 465 smtp.oldmail.example."],
    "dns.cname[autoconfig.bank.example]": [],
    "dns.cname[autodiscover.bank.example]": ["autodiscover.oldmail.example"],
    "mta_sts[bank.example]": ["v=STSv1; id=20260101"],
    "mta_sts.policy[bank.example]": None,  # announced, but mta-sts.bank.example has no address
    "spf[spf.newmail.example]": {
        "record": "v=spf1 ip4:198.51.100.0/24 include:_spf2.newmail.example -all",
        "lookups": 1, "domains": ["_spf2.newmail.example"], "errors": []},
    "dns.addresses[mx.newmail.example]": ["127.0.0.3"],
    "dns.addresses[mx1.oldmail.example]": ["127.0.0.1"],
    "dns.addresses[mx2.oldmail.example]": ["127.0.0.2", "::1"],
    "ptr[198.51.100.26]": {"names": ["out26.newmail.example"],
                           "forward_match": ["out26.newmail.example"]},
    "ptr[198.51.100.27]": {"names": ["out27.newmail.example"], "forward_match": []},
    "ptr[198.51.100.28]": {"names": ["ghost.newmail.example", "out28.newmail.example"],
                           "forward_match": ["out28.newmail.example"]},
    "ptr[198.51.100.29]": {"names": [], "forward_match": []},
}


def test_dns_facts_are_what_the_zone_says(knot_factory: Callable[[dict[str, str]], KnotDns],
                                          rdap: RdapServer, tmp_path: Path) -> None:
    knot = knot_factory(ZONES)
    path = tmp_path / "migration.toml"
    path.write_text(example(knot.nameserver, rdap.url, {
        '# sending_ips = ["198.51.100.26"]': f"sending_ips = {SENDING_IPS}".replace("'", '"')}))
    facts = gather_facts(load(path).plan, {Category.DNS}, lambda: NOW)
    got = {fact.key: fact.value for fact in facts}
    assert [f.key for f in facts.unknown()] == []
    assert got == EXPECTED_DNS
    assert {fact.source for fact in facts} == {f"dns {knot.nameserver}"}
    assert {fact.observed_at for fact in facts} == {NOW}
    assert rdap.requests == []  # DNS only: the registry was not asked


def test_domain_facts_are_what_the_registry_said(
        knot_factory: Callable[[dict[str, str]], KnotDns], rdap: RdapServer,
        tmp_path: Path) -> None:
    knot = knot_factory(ZONES)
    path = tmp_path / "migration.toml"
    path.write_text(example(knot.nameserver, rdap.url))
    facts = gather_facts(load(path).plan, {Category.DOMAIN}, lambda: NOW)
    assert {fact.key: fact.value for fact in facts} == {
        "rdap.status[bank.example]": ["clientDeleteProhibited", "clientTransferProhibited"],
        "rdap.registrar[bank.example]": "Example Registrar, Inc.",
        "rdap.nameservers[bank.example]": ["ns1.bank.example", "ns2.bank.example"],
        "rdap.expires[bank.example]": "2029-03-11T09:27:04+00:00",
        "rdap.registered[bank.example]": "2009-03-11T09:27:04+00:00",
        "rdap.last_transfer[bank.example]": None,
        "rdap.last_changed[bank.example]": "2025-02-08T07:53:13+00:00",
    }
    assert [f.key for f in facts.unknown()] == []
    assert rdap.requests == ["/domain/bank.example"]


def test_a_silent_nameserver_makes_facts_unknown_not_empty(
        knot_factory: Callable[[dict[str, str]], KnotDns], rdap: RdapServer,
        tmp_path: Path) -> None:
    """Stopped Knot: no fact may claim "no such record"; each is unknown, with the reason."""
    knot = knot_factory(ZONES)
    nameserver = knot.nameserver
    knot.stop()
    path = tmp_path / "migration.toml"
    path.write_text(example(nameserver, rdap.url).replace("[check]", "[check]\ntimeout = 1"))
    facts = gather_facts(load(path).plan, {Category.DNS}, lambda: NOW)
    assert {f.key for f in facts} == set(EXPECTED_DNS) - {
        "ptr[198.51.100.26]", "ptr[198.51.100.27]", "ptr[198.51.100.28]", "ptr[198.51.100.29]",
        "dns.addresses[mx2.oldmail.example]"}  # no MX answer: mx2 is not known to exist
    assert all(not f.known and f.value is None and f.error for f in facts)
