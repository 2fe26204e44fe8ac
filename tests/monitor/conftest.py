"""Fixtures for the monitor: the post-cutover world of monitorkit on real servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import Dovecot
from testbed.dns import KnotDns
from testbed.monitorkit import STALE, UPDATED, USERS, WebhookEndpoint, World
from testbed.net import free_port
from testbed.rdap import RdapServer, rdap_domain
from testbed.relaykit import RelayThread, load
from testbed.smtp_sink import SmtpSink


@pytest.fixture
def knots() -> Iterator[tuple[KnotDns, KnotDns]]:
    """(updated, stale): two nameservers serving two versions of bank.example."""
    updated, stale = KnotDns(dict(UPDATED)).start(), KnotDns(dict(STALE)).start()
    yield updated, stale
    updated.cleanup()
    stale.cleanup()


@pytest.fixture
def rdap() -> Iterator[RdapServer]:
    server = RdapServer({"bank.example": rdap_domain("bank.example")}).start()
    yield server
    server.stop()


@pytest.fixture
def alert_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def webhook() -> Iterator[WebhookEndpoint]:
    endpoint = WebhookEndpoint()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def systems(dovecot_factory: Callable[..., Dovecot]) -> tuple[Dovecot, Dovecot]:
    """(old, new): Dovecot with LMTP for both systems."""
    return dovecot_factory(lmtp=True, users=USERS), dovecot_factory(lmtp=True, users=USERS)


@pytest.fixture
def world(tmp_path: Path, systems: tuple[Dovecot, Dovecot], knots: tuple[KnotDns, KnotDns],
          rdap: RdapServer, alert_sink: SmtpSink, webhook: WebhookEndpoint,
          ) -> Iterator[Callable[..., World]]:
    """`world(**overrides)`: the project written, the relay (as MX) running on its port."""
    relays: list[RelayThread] = []

    def make(*, with_relay: bool = True, **overrides: Any) -> World:
        old, new = systems
        port = free_port()
        fields: dict[str, Any] = dict(
            root=tmp_path / "project", old=old, new=new,
            nameservers=[knots[0].nameserver, knots[1].nameserver], rdap_url=rdap.url,
            mx_port=port, alert_port=alert_sink.port, webhook_url=webhook.url,
            relay_port=port if with_relay else None)
        fields.update(overrides)
        built = World(**fields)
        built.write()
        if with_relay:
            relay = load(built.toml)
            relays.append(RelayThread(relay).start())
        return built

    yield make
    for relay in relays:
        if relay.is_running:
            relay.stop()
