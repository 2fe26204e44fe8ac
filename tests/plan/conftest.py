"""Fixtures for the planner: a real Knot DNS and a real local RDAP server, plus a
migration.toml like the issue's example pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailferry.project import Migration, load
from testbed.dns import KnotDns
from testbed.plankit import WORLD, example
from testbed.rdap import RdapServer, rdap_domain


@pytest.fixture
def knot_factory() -> Iterator[Callable[[dict[str, str]], KnotDns]]:
    started: list[KnotDns] = []

    def start(zones: dict[str, str]) -> KnotDns:
        server = KnotDns(zones).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()


@pytest.fixture
def knot(knot_factory: Callable[[dict[str, str]], KnotDns]) -> KnotDns:
    return knot_factory(WORLD)


@pytest.fixture
def rdap() -> Iterator[RdapServer]:
    server = RdapServer({"bank.example": rdap_domain("bank.example")}).start()
    yield server
    server.stop()


@pytest.fixture
def write_migration(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "migration.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


@pytest.fixture
def live_migration(knot: KnotDns, rdap: RdapServer,
                   write_migration: Callable[..., Path]) -> Callable[..., Migration]:
    """The example pointed at the running Knot and RDAP servers, with lines replaced."""
    def make(replace: dict[str, str] | None = None) -> Migration:
        return load(write_migration(example(knot.nameserver, rdap.url, replace))).plan
    return make
