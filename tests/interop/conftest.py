"""The interop test bed: servers other than Dovecot, and the slow matrix (marker `interop`).

`make test` runs the fast tests here; those needing a chroot server skip with the reason
when scripts/testbed-chroot.sh has not built it. `make test-interop` builds the chroots,
sets MAILFERRY_INTEROP=1 and runs the `interop` tests: there a missing chroot fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testbed.chroot import ChrootMissing, ChrootServer
from testbed.interopkit import INTEROP, require_chroot


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if INTEROP:
        return
    skip = pytest.mark.skip(reason="slow interop matrix: run `make test-interop`")
    for item in items:
        if item.get_closest_marker("interop"):
            item.add_marker(skip)


@pytest.fixture
def chroot_factory() -> Iterator[Callable[..., ChrootServer]]:
    """Start chroot servers: `chroot_factory(Cyrus)`; skipped when the chroot is not built."""
    started: list[ChrootServer] = []

    def start(kind: type[ChrootServer], **kwargs: Any) -> ChrootServer:
        server = kind(**kwargs)
        try:
            server.chroot  # noqa: B018 - raises ChrootMissing before anything starts
        except ChrootMissing as exc:
            server.cleanup()
            require_chroot(exc)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.cleanup()
