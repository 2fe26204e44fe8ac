"""Maintenance windows as the batch sees them: open now? when does the next one open?"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from mailferry.project import Window, in_any_window, next_window_start


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class WindowSchedule:
    """No windows configured: always open. `clock` is injectable so tests can move time."""

    windows: tuple[Window, ...]
    timezone: ZoneInfo
    clock: Callable[[], dt.datetime] = field(default=utc_now)

    def is_open(self) -> bool:
        return not self.windows or in_any_window(self.windows, self._local())

    def next_open(self) -> dt.datetime:
        """The next moment inside a window (now, if one is open), aware, in the zone."""
        local = self._local()
        start = next_window_start(self.windows, local) if self.windows else local
        return start.replace(tzinfo=self.timezone)

    def seconds_until_open(self) -> float:
        if self.is_open():
            return 0.0
        return max(0.0, (self.next_open() - self.clock()).total_seconds())

    def _local(self) -> dt.datetime:
        return self.clock().astimezone(self.timezone).replace(tzinfo=None)
