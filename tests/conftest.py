"""Fixtures shared by all tests: real servers on 127.0.0.1, started and stopped by pid."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import Dovecot
from testbed.postgres import Postgres
from testbed.redis import Redis

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def dovecot_factory(tmp_path: Path) -> Iterator[Callable[..., Dovecot]]:
    """Start throwaway Dovecot instances: `dovecot_factory(layout="dot", tls=True, ...)`."""
    started: list[Dovecot] = []

    def start(**kwargs: Any) -> Dovecot:
        server = Dovecot(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()


@pytest.fixture
def source(dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    return dovecot_factory()


@pytest.fixture
def target(dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    return dovecot_factory()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (every login trusted)."""
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def secured_postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster whose TCP logins need the password."""
    server = Postgres(password="pg-Secret-4711").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Redis]:
    """A throwaway redis-server on 127.0.0.1: the task queue's broker."""
    server = Redis().start()
    yield server
    server.stop()
