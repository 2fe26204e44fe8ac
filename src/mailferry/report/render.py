"""The report as JSON or as one self-contained HTML page (inline CSS, no scripts, no links
out), so it can be mailed or archived as it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from mailferry.report.model import ProjectReport
from mailferry.report.sections import SECTIONS, Section

_PAGE = Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mailferry report: {{ report.project }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.2em .5em}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.synced,.verified,.unchanged{color:#176b2c}.failed,.error{color:#b00020}
.paused,.copying{color:#8a6d00}.pending,.excluded{color:#666}
details.user{border-bottom:1px solid #eee;padding:.3em 0}summary{cursor:pointer}
nav a{margin-right:1em}
</style></head><body>
<h1>Migration report: {{ report.project }}</h1>
<p>Generated {{ report.generated_at.isoformat(timespec='seconds') }} by mailferry.</p>
<nav>{% for s, _ in sections %}<a href="#{{ s.key }}">{{ s.title }}</a>{% endfor %}</nav>
{% for s, body in sections %}<section id="{{ s.key }}"><h2>{{ s.title }}</h2>
{{ body }}</section>
{% endfor %}</body></html>
""")


def _present(report: ProjectReport, sections: Sequence[Section]) -> list[Section]:
    return [s for s in sections if s.data(report) is not None]


def report_json(report: ProjectReport, sections: Sequence[Section] = SECTIONS) -> dict[str, Any]:
    out: dict[str, Any] = {"project": report.project,
                           "generated_at": report.generated_at.isoformat(timespec="seconds")}
    for section in sections:
        data = section.data(report)
        if data is not None:
            out[section.key] = data
    return out


def report_html(report: ProjectReport, sections: Sequence[Section] = SECTIONS) -> str:
    parts = [(s, Markup(s.html(report))) for s in _present(report, sections)]
    return _PAGE.render(report=report, sections=parts)
