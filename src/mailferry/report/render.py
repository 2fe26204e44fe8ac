"""The report as JSON or as one self-contained HTML page: the dashboard's overview frozen
(summary, charts, runbook timeline, panels) followed by the sections (users, failures,
verification, and any another step appended). Inline CSS and SVG, no script, no link out,
so it can be mailed or archived as it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from mailferry.report.formats import local
from mailferry.report.fragments import (
    STYLESHEET,
    render_charts,
    render_panels,
    render_summary,
    render_timeline,
    render_waves,
)
from mailferry.report.model import ProjectReport
from mailferry.report.overview import Overview
from mailferry.report.sections import SECTIONS, Section

_ENV = Environment(loader=PackageLoader("mailferry.report", "templates"), autoescape=True,
                   trim_blocks=True, lstrip_blocks=True)


def report_json(report: ProjectReport, sections: Sequence[Section] = SECTIONS) -> dict[str, Any]:
    out: dict[str, Any] = {"project": report.project,
                           "generated_at": report.generated_at.isoformat(timespec="seconds")}
    for section in sections:
        data = section.data(report)
        if data is not None:
            out[section.key] = data
    return out


def report_html(report: ProjectReport, sections: Sequence[Section] = SECTIONS,
                overview: Overview | None = None) -> str:
    """One page. With the `overview` (the dashboard's data), it opens with the summary,
    waves, charts and runbook; the sections' own HTML follows (a section without HTML, or
    whose data is None, is left out)."""
    parts: list[tuple[str, str, Markup]] = []
    if overview is not None:
        parts += [("summary", "Summary", render_summary(overview)),
                  ("waves", "Waves", render_waves(overview)),
                  ("progress", "Progress", render_charts(overview)),
                  ("runbook", "Runbook", render_timeline(overview))]
        parts += [(f"panel-{key}", title, body)
                  for key, (title, body) in render_panels(overview).items()]
    shown = {key for key, _, _ in parts}
    for section in sections:
        if section.html is None or section.key in shown or section.data(report) is None:
            continue
        parts.append((section.key, section.title, Markup(section.html(report))))
    generated = local(report.generated_at, report.zone)
    return _ENV.get_template("report.html.j2").render(
        report=report, parts=parts, stylesheet=Markup(STYLESHEET), generated=generated)
