"""Facts gathered from real local servers: Knot DNS and an RDAP server."""

from __future__ import annotations

from collections.abc import Callable

from world import NOW

from mailferry.plan import Category
from mailferry.plan.check import gather_facts
from mailferry.project.migration import Migration
from testbed.rdap import RdapServer


def test_domain_and_dns_facts(live_migration: Callable[..., Migration], rdap: RdapServer) -> None:
    m = live_migration({'# sending_ips = ["198.51.100.26"]':
                        'sending_ips = ["198.51.100.26", "198.51.100.27"]'})
    facts = gather_facts(m, {Category.DOMAIN, Category.DNS}, lambda: NOW)
    for f in facts:
        print(f.key, f.value, f.error)
    assert rdap.requests == ["/domain/bank.example"]
