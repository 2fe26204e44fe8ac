"""The Monitoring section of `status` and the report: the last monitor pass (every check),
open and recent incidents, late mail per user, the latest deliverability comparison, and the
DMARC sources. Its data is `MonitorState.overview()` (store), put in `report.extra`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment

from mailferry.report.model import ProjectReport, iso
from mailferry.store import MonitorState, StoreLocation

KEY = "monitoring"
_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["iso"] = iso


def attach_monitoring(report: ProjectReport, location: StoreLocation) -> None:
    """Add what the monitor stored (if anything) to `report` for the section to show."""
    if isinstance(location, Path) and not location.exists():
        return
    with MonitorState.open(location) as state:
        overview = state.overview()
    if overview is not None:
        report.extra[KEY] = overview


def monitoring_data(report: ProjectReport) -> dict[str, Any] | None:
    data: dict[str, Any] | None = report.extra.get(KEY)
    return data


_MONITORING = _env.from_string("""
{% set p = data.last_pass %}
{% if p %}<p>Last pass {{ p.at | iso }} ({{ p.phase }}):
<span class="{{ 'failed' if p.alerts else 'synced' }}">{{ p.alerts }} need a person</span>.</p>
<table><tr><th>status</th><th>area</th><th>subject</th><th>what</th></tr>
{% for c in p.checks %}<tr><td class="{{ {'alert': 'failed', 'warn': 'paused', 'ok': 'synced'}
.get(c.status, 'pending') }}">{{ c.status }}</td><td>{{ c.area }}</td><td>{{ c.subject }}</td>
<td>{{ c.message }}</td></tr>{% endfor %}</table>{% endif %}
{% if data.incidents %}<h3>Incidents</h3><table><tr><th>incident</th><th>opened</th>
<th>resolved</th><th>what</th></tr>
{% for i in data.incidents %}<tr><td>{{ i.key }}</td><td>{{ i.opened_at | iso }}</td>
<td class="{{ 'synced' if i.resolved_at else 'failed' }}">{{ (i.resolved_at | iso) if
i.resolved_at else 'open' }}</td><td>{{ i.last_message }}</td></tr>{% endfor %}</table>{% endif %}
{% if data.late_mail %}<h3>Late mail copied after the cutover</h3><table><tr><th>user</th>
<th>messages</th><th>last pass</th><th>last looked</th><th>error</th></tr>
{% for r in data.late_mail %}<tr><td>{{ r.source_user }}</td><td class="n">{{ r.messages }}</td>
<td class="n">{{ r.last_messages }}</td><td>{{ r.last_at | iso }}</td>
<td class="error">{{ r.error or '' }}</td></tr>{% endfor %}</table>{% endif %}
{% set d = data.deliverability %}
{% if d %}<h3>Deliverability {{ d.at | iso }}: {{ d.sender }} &rarr; old {{ d.old_address }} /
new {{ d.new_address }}</h3><table><tr><th>message</th><th>system</th><th>placement</th>
<th>latency</th><th>authentication and spam verdicts</th></tr>
{% for r in d.results %}<tr><td>{{ r.kind }}</td><td>{{ r.system }}</td>
<td class="{{ 'failed' if not r.arrived else ('paused' if r.junk else 'synced') }}">{{
r.folder if r.arrived else ('not sent: ' ~ r.send_error if r.send_error else 'not arrived') }}</td>
<td class="n">{{ '%.1f s' % r.latency if r.latency is not none else '' }}</td>
<td>{% for name, values in r.verdicts.items() %}{{ name }}: {{ values | join(' | ') }}<br>
{% endfor %}</td></tr>{% endfor %}</table>{% endif %}
""")


def monitoring_html(report: ProjectReport) -> str:
    return _MONITORING.render(data=monitoring_data(report) or {})
