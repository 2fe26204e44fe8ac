"""The report as a list of sections, each giving JSON data and an HTML fragment.

Another step adds its own section by appending to `SECTIONS` (e.g. verification, from
report/verify.py): `SECTIONS.append(Section("verification", "Verification", data, html))`.
A section whose `data` returns None is left out of both outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment

from mailferry.report.model import ProjectReport, human_bytes, iso
from mailferry.report.monitoring import KEY as MONITORING
from mailferry.report.monitoring import monitoring_data, monitoring_html
from mailferry.store.project_state import STATUSES

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["bytes"] = human_bytes
_env.filters["iso"] = iso


@dataclass(frozen=True)
class Section:
    key: str  # JSON key and HTML anchor
    title: str
    data: Callable[[ProjectReport], Any]  # JSON-ready, or None: section left out
    html: Callable[[ProjectReport], str]  # an escaped HTML fragment


def _template(text: str) -> Callable[[ProjectReport], str]:
    compiled = _env.from_string(text)
    return lambda report: compiled.render(report=report, statuses=STATUSES)


_SUMMARY = """
<table><tr>{% for s in statuses %}<th>{{ s }}</th>{% endfor %}<th>messages</th><th>size</th></tr>
<tr>{% for s in statuses %}<td class="n {{ s }}">{{ report.counts[s] }}</td>{% endfor %}
<td class="n">{{ report.users | sum(attribute='messages') }}</td>
<td class="n">{{ report.users | sum(attribute='bytes') | bytes }}</td></tr></table>
"""
_WAVES = """
<table><tr><th>wave</th><th>users</th>{% for s in statuses %}<th>{{ s }}</th>{% endfor %}
<th>messages</th><th>size</th></tr>
{% for wave in report.waves %}{% set counts = wave.counts %}
<tr><td>{{ wave.label }}</td><td class="n">{{ wave.users | length }}</td>
{% for s in statuses %}<td class="n">{{ counts[s] }}</td>{% endfor %}
<td class="n">{{ wave.users | sum(attribute='messages') }}</td>
<td class="n">{{ wave.users | sum(attribute='bytes') | bytes }}</td></tr>
{% endfor %}</table>
"""
_USERS = """
{% for wave in report.waves %}<h3>{{ wave.label }}</h3>
{% for u in wave.users %}{% set r = u.record %}
<details class="user"{% if u.status == 'failed' %} open{% endif %}>
<summary><b>{{ u.user.source_user }}</b> &rarr; {{ u.user.target_user }}
<span class="{{ u.status }}">{{ u.status }}</span> {{ u.user.department }}
&middot; {{ u.messages }} messages, {{ u.bytes | bytes }}
{% if r and r.last_sync %}&middot; last sync {{ r.last_sync | iso }}{% endif %}</summary>
{% if r and r.error %}<p class="error">{{ r.error }}</p>{% endif %}
{% if r and r.folders %}<table><tr><th>source folder</th><th>target folder</th><th>status</th>
<th>copied</th><th>present</th><th>failed</th><th>bytes</th><th>note</th></tr>
{% for f in r.folders %}<tr><td>{{ f.source }}</td><td>{{ f.target }}</td>
<td class="{{ f.status }}">{{ f.status }}</td><td class="n">{{ f.copied }}</td>
<td class="n">{{ f.present }}</td><td class="n">{{ f.failed }}</td>
<td class="n">{{ f.bytes | bytes }}</td><td>{{ f.error or f.note }}</td></tr>{% endfor %}
</table>{% endif %}
</details>
{% endfor %}{% endfor %}
"""
_FAILURES = """
{% for u in report.users if u.failures or (u.record and u.record.error) %}
<h3>{{ u.user.source_user }}</h3>
{% if u.record.error %}<p class="error">{{ u.record.error }}</p>{% endif %}
{% if u.failures %}<table><tr><th>folder</th><th>UID</th><th>kind</th><th>Message-ID</th>
<th>subject</th><th>size</th><th>the server said</th></tr>
{% for f in u.failures %}<tr><td>{{ f.folder }}</td><td class="n">{{ f.uid }}</td>
<td>{{ f.kind }}</td><td>{{ f.message_id or '' }}</td><td>{{ f.subject or '' }}</td>
<td class="n">{{ f.size if f.size is not none else '' }}</td>
<td class="error">{{ f.reason }}</td></tr>{% endfor %}</table>{% endif %}
{% else %}<p>No failures.</p>{% endfor %}
"""


_VERIFICATION = """
<table><tr><th>user</th><th>status</th><th>verified at</th><th>result</th><th>folders</th>
<th>source msgs</th><th>target msgs</th><th>differences</th></tr>
{% for v in rows %}<tr><td>{{ v.source_user }}</td><td class="{{ v.status }}">{{ v.status }}</td>
<td>{{ v.verified_at or '' }}</td>
<td class="{{ 'verified' if v.ok else 'failed' }}">{{ 'clean' if v.ok else (v.error and
'could not verify' or 'differs') }}{% if v.deep %} (deep){% endif %}</td>
<td class="n">{{ v.folders }}</td><td class="n">{{ v.totals.source_messages }}</td>
<td class="n">{{ v.totals.target_messages }}</td><td class="n">{{ v.differences }}</td></tr>
{% endfor %}</table>
{% for v in rows if v.error or v.listed %}<h3>{{ v.source_user }}</h3>
{% if v.error %}<p class="error">{{ v.error }}</p>{% endif %}
{% if v.listed %}<table><tr><th>folder</th><th>kind</th><th>source UID</th><th>target UID</th>
<th>Message-ID</th><th>what differs</th></tr>
{% for d in v.listed %}<tr><td>{{ d.folder }}</td><td class="failed">{{ d.kind }}</td>
<td class="n">{{ d.source_uid or '' }}</td><td class="n">{{ d.target_uid or '' }}</td>
<td>{{ d.message_id or '' }}</td><td>{{ d.detail }}</td></tr>{% endfor %}</table>
{% if v.listed | length < v.differences %}<p>... and {{ v.differences - v.listed | length }}
more (the state keeps the first {{ v.listed | length }}).</p>{% endif %}{% endif %}
{% endfor %}
"""


def _verification(report: ProjectReport) -> list[dict[str, Any]] | None:
    """The last `mailferry verify` of each user that has one; None (no section) if none."""
    rows = []
    for u in report.users:
        v = u.record.verification if u.record else None
        if v is None:
            continue
        rows.append({"source_user": u.user.source_user, "status": u.status,
                     "verified_at": iso(v.get("verified_at")), "ok": bool(v.get("ok")),
                     "deep": bool(v.get("deep")), "error": v.get("error"),
                     "folders": v.get("folders", 0), "totals": v.get("totals", {}),
                     "differences": v.get("differences", 0), "listed": v.get("listed", []),
                     "excluded": v.get("excluded", [])})
    return rows or None


_VERIFICATION_TEMPLATE = _env.from_string(_VERIFICATION)


def _verification_html(report: ProjectReport) -> str:
    return _VERIFICATION_TEMPLATE.render(rows=_verification(report) or [])


_MIRROR = """
{% for u in rows %}<h3>{{ u.source_user }}</h3>
{% if u.stopped %}<p class="failed">{{ u.stopped }}</p>{% endif %}
{% if u.note %}<p>{{ u.note }}</p>{% endif %}
<table><tr><th>action</th><th>folder</th><th>to</th><th>Message-ID</th><th>date</th></tr>
{% for a in u.actions %}<tr><td>{{ a.action }}</td><td>{{ a.folder }}</td><td>{{ a.to or '' }}</td>
<td>{{ a.message_id or '(none)' }}</td><td>{{ a.date or '' }}</td></tr>
{% else %}<tr><td colspan="5">nothing moved or removed</td></tr>{% endfor %}</table>
{% endfor %}
"""
_MIRROR_TEMPLATE = _env.from_string(_MIRROR)


def _mirror(report: ProjectReport) -> list[dict[str, Any]] | None:
    """What the last mirror pass of each mailbox moved and removed (None: no mirror pass)."""
    rows = [{"source_user": u.user.source_user, **u.record.mirror} for u in report.users
            if u.record and (u.record.mirror.get("enabled") or u.record.mirror.get("note"))]
    return rows or None


def _failures(report: ProjectReport) -> list[dict[str, Any]]:
    return [{"source_user": u.user.source_user, "error": u.record.error if u.record else None,
             "messages": u.failures}
            for u in report.users if u.failures or (u.record and u.record.error)]


SECTIONS: list[Section] = [
    Section("summary", "Summary",
            lambda r: {"users": len(r.users), "status": {s: r.counts.get(s, 0) for s in STATUSES},
                       "messages": sum(u.messages for u in r.users),
                       "bytes": sum(u.bytes for u in r.users)},
            _template(_SUMMARY)),
    Section("waves", "Waves", lambda r: [w.to_json() for w in r.waves], _template(_WAVES)),
    Section("users", "Users and folders", lambda r: [u.to_json() for u in r.users],
            _template(_USERS)),
    Section("failures", "Failures, in the servers' words", _failures, _template(_FAILURES)),
    Section("mirror", "Mirror mode: moved and removed in the last pass", _mirror,
            lambda r: _MIRROR_TEMPLATE.render(rows=_mirror(r) or [])),
    Section("verification", "Verification", _verification, _verification_html),
    Section(MONITORING, "Monitoring", monitoring_data, monitoring_html),
]
