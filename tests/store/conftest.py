from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.postgres import Postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    server = Postgres().start()
    yield server
    server.stop()
