"""Fixtures for the relay: two real Dovecot upstreams over LMTP and relays to drive."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mailferry.project import RelaySettings
from testbed import Dovecot
from testbed.relaykit import USERS, RelayThread


@pytest.fixture
def old(dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    return dovecot_factory(lmtp=True, users=USERS)


@pytest.fixture
def new(dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    return dovecot_factory(lmtp=True, users=USERS)


@pytest.fixture
def run_relay() -> Iterator[Callable[[RelaySettings], RelayThread]]:
    """Start relays in threads; any still running are stopped at the end."""
    running: list[RelayThread] = []

    def start(settings: RelaySettings) -> RelayThread:
        relay = RelayThread(settings).start()
        running.append(relay)
        return relay

    yield start
    for relay in running:
        if relay.is_running:
            relay.stop()
