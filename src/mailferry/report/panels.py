"""Panels: what other packages add to the overview (dashboard and static report alike).

A panel reads its data (None: nothing to show, the panel is left out) and renders it as an
escaped HTML fragment. It is called once per page or live tick and keeps nothing between
calls. To add one (the monitor's latest results, notices sent):

    from mailferry.report import PANELS, Panel
    PANELS.append(Panel("monitor", "Mail flow after the cutover", read_monitor, render_monitor))

`read(context)` gets the project's settings, the open `ProjectState` and the time; it must
stay fast (it runs every few seconds while a dashboard is open) and must not raise for a
missing or unreadable source: return None, or data that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from mailferry.project import ProjectSettings
from mailferry.report.formats import human_bytes, span
from mailferry.store import ProjectState


@dataclass(frozen=True)
class PanelContext:
    settings: ProjectSettings
    state: ProjectState
    now: float  # epoch seconds


@dataclass(frozen=True)
class Panel:
    key: str  # HTML id, and the name of its live fragment
    title: str
    read: Callable[[PanelContext], Any]  # data, or None: nothing to show
    render: Callable[[Any], Markup]  # escaped HTML fragment of that data


@dataclass(frozen=True)
class UpstreamQueue:
    upstream: str
    pending: int  # deliveries waiting
    deferred: int  # of which tried at least once
    oldest_seconds: float
    bytes: int
    last_error: str  # the upstream's words, from the latest failed try


@dataclass(frozen=True)
class RelayQueue:
    spool: Path
    upstreams: list[UpstreamQueue]


def read_relay(context: PanelContext) -> RelayQueue | None:
    """The relay's spool, when the project has a [relay] and its spool exists."""
    from mailferry.relay import load_state  # only when a relay is configured

    relay = context.settings.relay
    if relay is None or not relay.spool.is_dir():
        return None
    by_upstream: dict[str, dict[str, Any]] = {
        name: {"pending": 0, "deferred": 0, "oldest": 0.0, "bytes": 0, "error": "",
               "error_at": -1.0} for name in relay.upstreams}
    for message in load_state(relay.spool).values():
        age = context.now - message.received_at
        for delivery in message.deliveries.values():
            row = by_upstream.setdefault(delivery.upstream, {
                "pending": 0, "deferred": 0, "oldest": 0.0, "bytes": 0, "error": "",
                "error_at": -1.0})
            row["pending"] += 1
            row["bytes"] += message.size
            row["oldest"] = max(row["oldest"], age)
            if delivery.attempts:
                row["deferred"] += 1
                if delivery.last_error and delivery.next_attempt > row["error_at"]:
                    row["error"], row["error_at"] = delivery.last_error, delivery.next_attempt
    return RelayQueue(relay.spool, [
        UpstreamQueue(name, r["pending"], r["deferred"], r["oldest"], r["bytes"], r["error"])
        for name, r in by_upstream.items()])


_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["bytes"] = human_bytes
_env.filters["span"] = span
_RELAY = _env.from_string("""
<table class="grid"><tr><th>upstream</th><th>waiting</th><th>deferred</th><th>oldest</th>
<th>size</th><th>last error, in the upstream's words</th></tr>
{% for u in data.upstreams %}<tr><td>{{ u.upstream }}</td><td class="n">{{ u.pending }}</td>
<td class="n{{ ' warn' if u.deferred else '' }}">{{ u.deferred }}</td>
<td class="n">{{ u.oldest_seconds | span if u.pending else '' }}</td>
<td class="n">{{ u.bytes | bytes }}</td><td class="error">{{ u.last_error }}</td></tr>
{% endfor %}</table>
""")


def render_relay(data: RelayQueue) -> Markup:
    return Markup(_RELAY.render(data=data))


PANELS: list[Panel] = [
    Panel("relay", "Dual-delivery relay: queue", read_relay, render_relay),
]
