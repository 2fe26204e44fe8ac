from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from testbed import Dovecot  # noqa: E402


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state.db"
