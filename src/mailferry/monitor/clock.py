"""The monitor's time, injectable: tests and `--now` run passes "later" without sleeping."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Aware, UTC."""

    def wait(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Let `seconds` pass (really: mail is on its way), or less if `stop` is set."""


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def wait(self, seconds: float, stop: threading.Event | None = None) -> None:
        (stop or threading.Event()).wait(max(0.0, seconds))


class ShiftedClock(SystemClock):
    """Starts at `start` (`--now`) and runs at the real pace from there."""

    def __init__(self, start: dt.datetime) -> None:
        self._start = start.astimezone(dt.UTC)
        self._origin = time.monotonic()

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=time.monotonic() - self._origin)

    def set(self, moment: dt.datetime) -> None:
        """Jump to `moment` (tests: the next pass, "20 minutes later")."""
        self._start = moment.astimezone(dt.UTC)
        self._origin = time.monotonic()
