"""Charts as server-side SVG: progress over time, throughput, per-wave bars, the runbook as
a Gantt timeline with today's line.

Drawn on the server on purpose: the static report embeds the very same SVG (one
self-contained file, no script needed to see a chart), the dashboard swaps it in on each
live update, nothing is vendored or fetched, and every label (wave names come from
users.csv) goes through Jinja's autoescaping like the rest of the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from jinja2 import Environment
from markupsafe import Markup

from mailferry.plan import Runbook
from mailferry.report.formats import count, human_bytes, percent_text
from mailferry.store import Activity

WIDTH, LEFT, RIGHT, TOP = 640, 64, 12, 12
STATUS_COLOURS = (("verified", "#0b6b3a"), ("synced", "#2e9e5b"), ("copying", "#2f6fbf"),
                  ("paused", "#d39b1b"), ("failed", "#c62828"), ("pending", "#c9ced6"))

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _ticks(low: float, high: float, wanted: int = 4) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / wanted
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = (low // step) * step
    return [first + n * step for n in range(wanted + 2) if low <= first + n * step <= high]


def _time_label(epoch: float, zone: ZoneInfo, spread: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, zone)
    return moment.strftime("%H:%M:%S" if spread < 300 else "%H:%M" if spread < 86400
                           else "%d %b %H:%M")


@dataclass(frozen=True)
class _Point:
    x: float
    y: float


_SERIES = _env.from_string("""
<svg class="chart" viewBox="0 0 {{ w }} {{ h }}" role="img" aria-label="{{ title }}"
 data-last="{{ last_value }}"><title>{{ title }}</title>
{% for y, label in yticks %}<line x1="{{ left }}" x2="{{ w - right }}" y1="{{ y }}"
 y2="{{ y }}" class="grid"/><text x="{{ left - 6 }}" y="{{ y + 4 }}" text-anchor="end"
 >{{ label }}</text>{% endfor %}
{% for x, label in xticks %}<text x="{{ x }}" y="{{ h - 4 }}" text-anchor="middle"
 >{{ label }}</text>{% endfor %}
{% if bars %}{% for b in bars %}<rect class="bar" x="{{ b.x }}" y="{{ b.y }}"
 width="{{ bar_width }}" height="{{ base - b.y }}"/>{% endfor %}
{% elif points %}<polyline class="line" points="{% for p in points %}{{ p.x }},{{ p.y }} {%
 endfor %}"/>{% else %}<text x="{{ w / 2 }}" y="{{ h / 2 }}" text-anchor="middle"
 class="empty">no sync has reported progress yet</text>{% endif %}
</svg>""")


def _series_svg(title: str, times: list[float], values: list[float], zone: ZoneInfo, *,
                bars: bool, label: str, unit_bytes: bool = False) -> Markup:
    h, bottom = 180, 20
    base = h - bottom
    if not times:
        return Markup(_SERIES.render(w=WIDTH, h=h, title=title, yticks=[], xticks=[],
                                     points=[], bars=[], left=LEFT, right=RIGHT,
                                     last_value=""))
    low_t, high_t = times[0], max(times[-1], times[0] + 1)
    top_v = max(max(values), 1.0)
    low_v = 0.0 if bars else min(values)
    if top_v <= low_v:
        top_v = low_v + 1

    def x(t: float) -> float:
        return round(LEFT + (t - low_t) / (high_t - low_t) * (WIDTH - LEFT - RIGHT), 1)

    def y(v: float) -> float:
        return round(base - (v - low_v) / (top_v - low_v) * (base - TOP), 1)

    fmt = human_bytes if unit_bytes else count
    yticks = [(y(v), fmt(v) + label) for v in _ticks(low_v, top_v)]
    spread = high_t - low_t
    xticks = [(x(t), _time_label(t, zone, spread))
              for t in (low_t, low_t + spread / 2, high_t)]
    points = [_Point(x(t), y(v)) for t, v in zip(times, values, strict=True)]
    bar_width = max(1.0, (WIDTH - LEFT - RIGHT) / max(len(times), 1) - 1)
    return Markup(_SERIES.render(
        w=WIDTH, h=h, title=title, yticks=yticks, xticks=xticks, left=LEFT, right=RIGHT,
        points=points, bars=points if bars else [], bar_width=round(bar_width, 1), base=base,
        last_value=values[-1]))


def progress_chart(seen: Activity, copied_now: int, zone: ZoneInfo) -> Markup:
    """Messages copied so far, over time (the samples' deltas added up to today's total)."""
    base = copied_now - seen.total_messages
    times, values, running = [], [], float(base)
    for start, messages, _size in seen.series:
        running += messages
        times.append(start + seen.bucket_seconds)
        values.append(running)
    return _series_svg("Messages copied over time", times, values, zone, bars=False, label="")


def throughput_chart(seen: Activity, zone: ZoneInfo) -> Markup:
    times = [start for start, _m, _b in seen.series]
    values = [messages / seen.bucket_seconds for _s, messages, _b in seen.series]
    return _series_svg("Throughput (messages per second)", times, values, zone, bars=True,
                       label="/s")


_WAVES = _env.from_string("""
<svg class="chart waves" viewBox="0 0 {{ w }} {{ h }}" role="img"
 aria-label="Mailboxes per wave and status"><title>Mailboxes per wave and status</title>
{% for row in rows %}<g class="wave" data-wave="{{ row.label }}">
<text x="{{ left - 6 }}" y="{{ row.y + 14 }}" text-anchor="end">{{ row.short }}</text>
{% for seg in row.segments %}<rect x="{{ seg.x }}" y="{{ row.y }}" width="{{ seg.width }}"
 height="20" fill="{{ seg.colour }}"><title>{{ row.label }}: {{ seg.count }} {{ seg.status
 }}</title></rect>{% endfor %}
<text x="{{ w - right + 4 }}" y="{{ row.y + 14 }}">{{ row.percent }}</text></g>
{% endfor %}
{% for status, colour in legend %}<rect x="{{ left + loop.index0 * 90 }}" y="{{ h - 14 }}"
 width="10" height="10" fill="{{ colour }}"/><text x="{{ left + 14 + loop.index0 * 90 }}"
 y="{{ h - 5 }}">{{ status }}</text>{% endfor %}
</svg>""")


def wave_bars(waves: list[tuple[str, dict[str, int], float | None]]) -> Markup:
    """One bar per wave (label, mailboxes by status, percent done), split by status."""
    left, right = 110, 56
    h = 30 * len(waves) + 30
    usable = WIDTH - left - right
    rows = []
    for n, (label, by_status, done) in enumerate(waves):
        total = sum(by_status.values()) or 1
        x, segments = float(left), []
        for status, colour in STATUS_COLOURS:
            number = by_status.get(status, 0)
            if number:
                width = usable * number / total
                segments.append({"x": round(x, 1), "width": round(width, 1),
                                 "colour": colour, "count": number, "status": status})
                x += width
        short = label if len(label) <= 16 else label[:15] + "…"
        rows.append({"label": label, "short": short, "y": 6 + 30 * n, "segments": segments,
                     "percent": percent_text(done)})
    return Markup(_WAVES.render(w=WIDTH, h=h, rows=rows, left=left, right=right,
                                legend=STATUS_COLOURS))


_GANTT = _env.from_string("""
<svg class="chart gantt" viewBox="0 0 {{ w }} {{ h }}" role="img"
 aria-label="Runbook timeline"><title>Runbook timeline</title>
{% for x, label in ticks %}<line class="grid" x1="{{ x }}" x2="{{ x }}" y1="{{ top }}"
 y2="{{ h - 18 }}"/><text x="{{ x }}" y="{{ h - 4 }}" text-anchor="middle">{{ label }}</text>
{% endfor %}
{% for s in steps %}<g class="step{{ ' critical' if s.critical }}" data-step="{{ s.id }}">
<text x="{{ left - 6 }}" y="{{ s.y + 13 }}" text-anchor="end">{{ s.short }}{% if s.hazards
 %} <tspan class="hazard">⚠ {{ s.hazards | length }}</tspan>{% endif %}</text>
{% if s.width > 3 %}<rect x="{{ s.x }}" y="{{ s.y }}" width="{{ s.width }}" height="18"
 rx="3"/>{% else %}<path d="M{{ s.x }} {{ s.y }} l7 9 l-7 9 l-7 -9 z"/>{% endif %}
<title>{{ s.title }}: {{ s.start }} – {{ s.end }}{% if s.critical %} (critical path){% endif
 %}{% for hz in s.hazards %}
{{ hz }}{% endfor %}</title></g>
{% endfor %}
{% if today is not none %}<line class="today" x1="{{ today }}" x2="{{ today }}" y1="{{ top
 - 4 }}" y2="{{ h - 18 }}"/><text class="today" x="{{ today }}" y="{{ top - 6 }}"
 text-anchor="middle">today</text>{% endif %}
</svg>""")


def gantt(runbook: Runbook, now: dt.datetime, zone: ZoneInfo) -> Markup:
    """Steps as bars from start to end (a diamond for a moment), the critical path in a
    stronger colour, a hazard mark with the rules in the tooltip, and today's line."""
    left, top, row = 210, 22, 26
    steps = runbook.steps
    low = min([s.start for s in steps] + [now]) - dt.timedelta(hours=12)
    high = max([s.end for s in steps] + [now]) + dt.timedelta(hours=12)
    spread = (high - low).total_seconds()
    usable = WIDTH - left - RIGHT

    def x(moment: dt.datetime) -> float:
        return round(left + (moment - low).total_seconds() / spread * usable, 1)

    day = dt.timedelta(days=1)
    stride = max(1, round(spread / 86400 / 8))
    tick = low.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0) + day
    ticks = []
    while tick < high:
        ticks.append((x(tick), tick.strftime("%d %b")))
        tick = (tick + stride * day).replace(hour=0)
    rows = []
    for n, step in enumerate(steps):
        title = step.spec.title
        rows.append({
            "id": step.spec.id, "critical": step.critical, "y": top + n * row,
            "short": title if len(title) <= 30 else title[:29] + "…", "title": title,
            "x": x(step.start), "width": round(max(x(step.end) - x(step.start), 0), 1),
            "start": step.start.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z"),
            "end": step.end.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z"),
            "hazards": [f"⚠ {f.severity}: {f.rule}: {f.message}" for f in step.hazards]})
    h = top + len(steps) * row + 22
    return Markup(_GANTT.render(w=WIDTH, h=h, steps=rows, ticks=ticks, left=left, top=top,
                                today=x(now) if low <= now <= high else None))
