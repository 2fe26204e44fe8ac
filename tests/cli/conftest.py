"""Fixtures of the CLI tests: a Knot DNS and an RDAP server for example.com, the domain
of the project `mailferry init` writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.dns import KnotDns, zone_text
from testbed.rdap import RdapServer, rdap_domain


@pytest.fixture
def rdap() -> Iterator[RdapServer]:
    server = RdapServer({"example.com": rdap_domain("example.com")}).start()
    yield server
    server.stop()


@pytest.fixture
def knot() -> Iterator[KnotDns]:
    server = KnotDns({"example.com": zone_text(
        "example.com", "@ IN MX 10 mx1.oldmail.example.\n"
        '@ IN TXT "v=spf1 include:spf.oldmail.example -all"\n')}).start()
    yield server
    server.cleanup()
