"""What the interop tests share: whether this is `make test-interop`, and what a missing
chroot means there (a failure) and in the regular suite (a skip with the reason)."""

from __future__ import annotations

import os

import pytest

from testbed.chroot import ChrootMissing

INTEROP = os.environ.get("MAILFERRY_INTEROP") == "1"


def require_chroot(error: ChrootMissing) -> None:
    if INTEROP:
        pytest.fail(str(error))
    pytest.skip(str(error))
