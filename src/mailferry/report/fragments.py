"""The overview as escaped HTML fragments, shared by the dashboard (which swaps them in on
each live update) and the static report (which freezes them into one file).

Templates live in templates/overview.html.j2 (Jinja2, autoescaped); times are shown in the
migration's time zone, bytes in SI units (rich.filesize).
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from mailferry.report import charts
from mailferry.report.formats import count, human_bytes, local, percent, percent_text, span
from mailferry.report.overview import DONE, RATE_WINDOW, Overview
from mailferry.store import STATUSES, FailedUser, UserRow

STYLESHEET = resources.files("mailferry.report").joinpath("static/mailferry.css").read_text(
    encoding="utf-8")


@pass_context
def _when(context: Context, moment: dt.datetime | float | None, seconds: bool = False) -> str:
    return local(moment, context["zone"], seconds=seconds)


def _progress_text(row: UserRow) -> str:
    if row.status in DONE:
        return "100 %"
    return percent_text(percent(row.done, row.scope or 0))


def _rate_text(row: UserRow, now: float) -> str:
    rate = row.rate(now)
    return "" if rate is None else f"{rate:.1f}/s"


def _env() -> Environment:
    env = Environment(loader=PackageLoader("mailferry.report", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(bytes=human_bytes, count=count, pct=percent_text, span=span, when=_when)
    env.globals.update(
        statuses=STATUSES, window=RATE_WINDOW, progress_text=_progress_text,
        rate_text=_rate_text,
        progress_chart=lambda o: charts.progress_chart(o.activity, o.total.tally.copied, o.zone),
        throughput_chart=lambda o: charts.throughput_chart(o.activity, o.zone),
        wave_chart=lambda o: charts.wave_bars(
            [(w.label, w.tally.by_status, w.mailboxes_percent) for w in o.waves]),
        gantt_chart=lambda o: charts.gantt(o.runbook, o.now, o.zone))
    return env


_ENV = _env()
_CALL = _ENV.from_string(
    "{% import 'overview.html.j2' as ov with context %}{{ ov[macro](*args, **kwargs) }}")


def _render(macro: str, zone: ZoneInfo, *args: Any, **kwargs: Any) -> Markup:
    return Markup(_CALL.render(macro=macro, zone=zone, args=args, kwargs=kwargs))


def render_summary(o: Overview, *, failures_href: str = "#failures") -> Markup:
    return _render("summary", o.zone, o, failures_href=failures_href)


def render_waves(o: Overview, *, csrf: str | None = None) -> Markup:
    """The waves table; with a CSRF token, each wave has its pause/resume button."""
    return _render("waves", o.zone, o, csrf=csrf)


def render_charts(o: Overview) -> Markup:
    return _render("charts", o.zone, o)


def render_timeline(o: Overview) -> Markup:
    return _render("timeline", o.zone, o)


def render_panels(o: Overview) -> dict[str, tuple[str, Markup]]:
    """Each panel present: key -> (title, fragment)."""
    return {panel.key: (panel.title, panel.render(data)) for panel, data in o.panels}


def render_failures(users: list[FailedUser], total: int, zone: ZoneInfo) -> Markup:
    return _render("failures", zone, users, total)


def render_user_rows(rows: list[UserRow], zone: ZoneInfo, now: float) -> Markup:
    return _render("user_rows", zone, rows, now)


def render_user_head() -> Markup:
    return _render("user_head", ZoneInfo("UTC"))
