"""The verification result as HTML: a fragment for a larger report, or a page of its own.

Self-contained on purpose (inline CSS, no scripts, no links out) so a page can be mailed
or archived as proof; every value is escaped (Message-IDs carry '<' and '>').
"""

from __future__ import annotations

from jinja2 import Environment
from markupsafe import Markup

from mailferry.verify import VerifyReport

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)

_SECTION = _env.from_string("""
<p class="{{ 'verified' if report.ok else 'failed' }}">
{% if report.ok %}Verified: every message in scope is in the target{% else %}
{{ report.differences | length }} difference(s) found{% endif %}
({{ 'sha256 of every message' if report.deep else 'fingerprint, flags, date and size' }};
{{ report.source }} &rarr; {{ report.target }}, {{ '%.1f' % report.seconds }} s).</p>
<table><tr><th>source folder</th><th>target folder</th><th>status</th>
<th>source msgs</th><th>target msgs</th><th>source bytes</th><th>target bytes</th>
<th>differences</th><th>note</th></tr>
{% for f in report.folders %}<tr><td>{{ f.source }}</td><td>{{ f.target }}</td>
<td class="{{ 'verified' if f.status == 'ok' else 'failed' }}">{{ f.status }}</td>
<td class="n">{{ f.source_messages }}</td><td class="n">{{ f.target_messages }}</td>
<td class="n">{{ f.source_bytes }}</td><td class="n">{{ f.target_bytes }}</td>
<td class="n">{{ f.differences }}</td><td>{{ f.note }}</td></tr>
{% endfor %}</table>
{% if report.differences %}<table><tr><th>folder</th><th>kind</th><th>source UID</th>
<th>target UID</th><th>Message-ID</th><th>what differs</th></tr>
{% for d in report.differences %}<tr><td>{{ d.folder }}</td><td class="failed">{{ d.kind }}</td>
<td class="n">{{ d.source_uid or '' }}</td><td class="n">{{ d.target_uid or '' }}</td>
<td>{{ d.message_id or '' }}</td><td>{{ d.detail }}</td></tr>
{% endfor %}</table>{% endif %}
{% if report.excluded %}<p>Excluded (not compared):</p><ul>
{% for e in report.excluded %}<li>{{ e.folder }}: {{ e.reason }}</li>{% endfor %}</ul>{% endif %}
""")

_PAGE = _env.from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mailferry verification</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.2em .5em}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.verified{color:#176b2c}.failed{color:#b00020}
</style></head><body><h1>Verification</h1>
{% if sections is defined %}{% for title, error, body in sections %}<h2>{{ title }}</h2>
{% if error %}<p class="failed">Could not verify: {{ error }}</p>{% endif %}{{ body }}
{% endfor %}{% else %}{{ section }}{% endif %}
</body></html>
""")


def render_section(report: VerifyReport) -> str:
    """An HTML fragment (no <html>/<body>): one report section."""
    return _SECTION.render(report=report)


def render_page(report: VerifyReport) -> str:
    return _PAGE.render(section=Markup(render_section(report)))


def render_pages(results: list[tuple[str, VerifyReport | None, str | None]]) -> str:
    """One page for several mailboxes: (title, report or None, error) each."""
    sections = [(title, error, Markup(render_section(report)) if report else "")
                for title, report, error in results]
    return _PAGE.render(sections=sections)
