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

from mailferry.report.formats import count, human_bytes, local
from mailferry.report.fragments import render_failures
from mailferry.report.model import ProjectReport, iso
from mailferry.report.monitoring import KEY as MONITORING
from mailferry.report.monitoring import monitoring_data, monitoring_html
from mailferry.store import STATUSES, FailedUser

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["bytes"] = human_bytes
_env.filters["count"] = count


@dataclass(frozen=True)
class Section:
    key: str  # JSON key and HTML anchor
    title: str
    data: Callable[[ProjectReport], Any]  # JSON-ready, or None: section left out
    html: Callable[[ProjectReport], str] | None  # an escaped HTML fragment; None: JSON only


def _when(report: ProjectReport) -> Callable[[float | None], str]:
    return lambda epoch: local(epoch, report.zone)


def _notable(folders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The folders worth a look in a report for people: 10,000 users times their folders
    would bury the few that matter (and weigh megabytes)."""
    return [f for f in folders if f.get("status") not in ("synced", "unchanged", "excluded")
            or f.get("error") or f.get("note") or f.get("failed")]


def _template(text: str) -> Callable[[ProjectReport], str]:
    compiled = _env.from_string(text)
    return lambda report: compiled.render(report=report, statuses=STATUSES, when=_when(report),
                                          notable=_notable)


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
<p class="muted">One row per user. Folders are listed (folded) where one needs a look: not
synced, an error, or a note; <code>mailferry report --json</code> has every folder.</p>
<table class="grid users"><thead><tr><th>user</th><th>wave</th><th>department</th><th>status</th>
<th>messages</th><th>size</th><th>passes</th><th>last sync</th><th>verified</th>
<th>last error, in the server's words / folders</th></tr></thead><tbody>
{% for u in report.users %}{% set r = u.record %}
<tr data-user="{{ u.user.source_user }}"><td>{{ u.user.source_user }}{% if u.user.target_user
 != u.user.source_user %} <span class="muted">&rarr; {{ u.user.target_user }}</span>{% endif %}</td>
<td>{{ u.user.wave or '–' }}</td><td>{{ u.user.department or '–' }}</td>
<td class="{{ u.status }}">{{ u.status }}</td><td class="n">{{ u.messages | count }}</td>
<td class="n">{{ u.bytes | bytes }}</td><td class="n">{{ r.passes if r else 0 }}</td>
<td>{{ when(r.last_sync if r else None) }}</td>
<td>{% set v = r.verification if r else None %}{% if v is none %}–{% elif v.ok %}<span
 class="verified">yes</span>{% else %}<span class="failed">differs</span>{% endif %}</td>
<td>{% if r and r.error %}<span class="error server-words">{{ r.error }}</span>{% endif %}
{% set shown = notable(r.folders) if r else [] %}
{% if shown %}<details><summary>{{ shown | length }} of {{ r.folders | length }} folders to look
 at</summary>
<table class="grid"><tr><th>source folder</th><th>target folder</th><th>status</th>
<th>copied</th><th>present</th><th>failed</th><th>size</th><th>note</th></tr>
{% for f in shown %}<tr><td>{{ f.source }}</td><td>{{ f.target }}</td>
<td class="{{ f.status }}">{{ f.status }}</td><td class="n">{{ f.copied }}</td>
<td class="n">{{ f.present }}</td><td class="n">{{ f.failed }}</td>
<td class="n">{{ f.bytes | bytes }}</td><td class="server-words">{{ f.error or f.note }}</td>
</tr>{% endfor %}
</table></details>{% elif r and r.folders %}<span class="muted">{{ r.folders | length }}
 folders, nothing to note</span>{% endif %}</td></tr>
{% endfor %}</tbody></table>
"""


_VERIFICATION = """
<table class="grid"><thead><tr><th>user</th><th>status</th><th>verified at</th><th>result</th>
<th>folders</th><th>source msgs</th><th>target msgs</th><th>differences</th></tr></thead><tbody>
{% for v in rows %}<tr data-user="{{ v.source_user }}"><td>{{ v.source_user }}</td>
<td class="{{ v.status }}">{{ v.status }}</td><td>{{ when(v.verified_at) }}</td>
<td><span class="{{ 'verified' if v.ok else 'failed' }}">{{ 'clean' if v.ok else (v.error and
'could not verify' or 'differs') }}{% if v.deep %} (deep){% endif %}</span>
{% if v.error or v.listed %}<details><summary>details</summary>
{% if v.error %}<p class="error server-words">{{ v.error }}</p>{% endif %}
{% if v.listed %}<table class="grid"><tr><th>folder</th><th>kind</th><th>source UID</th>
<th>target UID</th><th>Message-ID</th><th>what differs</th></tr>
{% for d in v.listed %}<tr><td>{{ d.folder }}</td><td class="failed">{{ d.kind }}</td>
<td class="n">{{ d.source_uid or '' }}</td><td class="n">{{ d.target_uid or '' }}</td>
<td>{{ d.message_id or '' }}</td><td>{{ d.detail }}</td></tr>{% endfor %}</table>
{% if v.listed | length < v.differences %}<p>… and {{ v.differences - v.listed | length }}
more (the state keeps the first {{ v.listed | length }}).</p>{% endif %}{% endif %}
</details>{% endif %}</td>
<td class="n">{{ v.folders }}</td><td class="n">{{ v.totals.source_messages }}</td>
<td class="n">{{ v.totals.target_messages }}</td><td class="n">{{ v.differences }}</td></tr>
{% endfor %}</tbody></table>
"""


def _verification(report: ProjectReport, *, epoch: bool = False,
                  ) -> list[dict[str, Any]] | None:
    """The last `mailferry verify` of each user that has one; None (no section) if none.
    Times as ISO strings in UTC, or (`epoch`) as they are stored, for the HTML."""
    rows = []
    for u in report.users:
        v = u.record.verification if u.record else None
        if v is None:
            continue
        rows.append({"source_user": u.user.source_user, "status": u.status,
                     "verified_at": v.get("verified_at") if epoch else iso(v.get("verified_at")),
                     "ok": bool(v.get("ok")),
                     "deep": bool(v.get("deep")), "error": v.get("error"),
                     "folders": v.get("folders", 0), "totals": v.get("totals", {}),
                     "differences": v.get("differences", 0), "listed": v.get("listed", []),
                     "excluded": v.get("excluded", [])})
    return rows or None


_VERIFICATION_TEMPLATE = _env.from_string(_VERIFICATION)


def _verification_html(report: ProjectReport) -> str:
    return _VERIFICATION_TEMPLATE.render(rows=_verification(report, epoch=True) or [],
                                         when=_when(report))


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


_INVENTORY = """
<p class="muted">What each source mailbox held when <code>mailferry inventory</code> counted
it, before the copy: the folders [filters] do not leave out.</p>
<table><tr><th>wave</th><th>counted</th><th>messages</th><th>size</th></tr>
{% for w in report.waves %}{% set c = w.counted %}<tr><td>{{ w.label }}</td>
<td class="n">{{ c | length }} of {{ w.users | length }}</td>
<td class="n">{{ c | sum(attribute='messages') | count }}</td>
<td class="n">{{ c | sum(attribute='bytes') | bytes }}</td></tr>{% endfor %}</table>
<table class="grid"><tr><th>user</th><th>counted at</th><th>folders</th><th>messages</th>
<th>size</th><th>how / error</th></tr>
{% for u in report.users if u.inventory %}{% set i = u.inventory %}
<tr data-user="{{ u.user.source_user }}"><td>{{ u.user.source_user }}</td>
<td>{{ when(i.taken_at) }}</td><td class="n">{{ i.copied_folders | length }}</td>
<td class="n">{{ i.messages | count }}</td><td class="n">{{ i.bytes | bytes }}</td>
<td>{% if i.error %}<span class="error server-words">{{ i.error }}</span>{% else %}{{ i.method
}}{% endif %}</td></tr>{% endfor %}</table>
"""


def _inventory(report: ProjectReport) -> dict[str, Any] | None:
    """Per wave, what `mailferry inventory` counted (None, no section, if it never ran)."""
    if not any(u.inventory for u in report.users):
        return None
    return {"waves": [{"wave": w.name, **w.to_json()["inventory"]} for w in report.waves]}


def _failures(report: ProjectReport) -> list[dict[str, Any]]:
    return [{"source_user": u.user.source_user, "error": u.record.error if u.record else None,
             "messages": u.failures}
            for u in report.users if u.failures or (u.record and u.record.error)]


def _failures_html(report: ProjectReport) -> str:
    users = [FailedUser(u.user.source_user, u.user.wave, u.status,
                        u.record.error if u.record else None, u.failures)
             for u in report.users if u.failures or (u.record and u.record.error)]
    return render_failures(users, len(users), report.zone)


SECTIONS: list[Section] = [
    Section("summary", "Summary",
            lambda r: {"users": len(r.users), "status": {s: r.counts.get(s, 0) for s in STATUSES},
                       "messages": sum(u.messages for u in r.users),
                       "bytes": sum(u.bytes for u in r.users)},
            _template(_SUMMARY)),
    Section("waves", "Waves", lambda r: [w.to_json() for w in r.waves], _template(_WAVES)),
    Section("users", "Users and folders", lambda r: [u.to_json() for u in r.users],
            _template(_USERS)),
    Section("inventory", "Source mailboxes before the copy", _inventory,
            _template(_INVENTORY)),
    Section("failures", "Failures, in the servers' words", _failures, _failures_html),
    Section("mirror", "Mirror mode: moved and removed in the last pass", _mirror,
            lambda r: _MIRROR_TEMPLATE.render(rows=_mirror(r) or [])),
    Section("verification", "Verification", _verification, _verification_html),
    Section(MONITORING, "Monitoring", monitoring_data, monitoring_html),
]
