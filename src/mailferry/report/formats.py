"""How numbers and times read in reports and the dashboard: times in the migration's time
zone (never the server's, never bare UTC), bytes in SI units as rich writes them ("1.2 MB"),
counts with separators."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from rich.filesize import decimal


def human_bytes(size: float) -> str:
    return decimal(max(0, int(size)))


def count(number: float) -> str:
    return f"{number:,.0f}"


def local(moment: dt.datetime | float | None, zone: ZoneInfo, *, seconds: bool = False,
          ) -> str:
    """'2026-03-14 09:30 CET' in `zone`; '' for None. Epoch floats are UTC instants."""
    if moment is None:
        return ""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.fromtimestamp(moment, dt.UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "")
                                            + " %Z")


def span(seconds: float | None) -> str:
    """'2 h 05 min', '3 min 20 s', '45 s'."""
    if seconds is None:
        return ""
    whole = max(0, round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def percent(done: float, total: float) -> float | None:
    """done/total in percent (0-100), None when there is nothing to measure against."""
    if total <= 0:
        return None
    return max(0.0, min(100.0, 100.0 * done / total))


def percent_text(value: float | None) -> str:
    if value is None:
        return "–"
    if 99.95 <= value < 100:  # never show 100 % for a job not done
        return "99.9 %"
    return f"{value:.1f} %" if value < 10 else f"{value:.0f} %"
