"""The runbook as Markdown, a self-contained HTML page (jinja2, inline CSS) and an
iCalendar file (RFC 5545) of the dated steps."""

from __future__ import annotations

import datetime as dt
import hashlib

import jinja2

from mailferry.plan.runbook import Runbook, Step


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%a %Y-%m-%d %H:%M")


def _hazards(step: Step) -> str:
    return "; ".join(f"`{f.rule}` ({f.severity})" for f in step.hazards) or "—"


def runbook_markdown(runbook: Runbook) -> str:
    m = runbook.migration
    generated = runbook.generated_at.astimezone(dt.UTC)
    intro = (f"Domains: {', '.join(m.domains)}. Times are {m.timezone.key}. "
             f"Generated {generated:%Y-%m-%d %H:%M} UTC.")
    out = [f"# Runbook: {m.name}", "", intro, ""]
    if runbook.problems:
        out += ["## The plan as written is not feasible", ""]
        out += [f"- {p}" for p in runbook.problems]
        out += ["", f"Earliest feasible cutover: **{_when(runbook.earliest_cutover)}**.", ""]
    out += [f"Cutover: **{_when(runbook.step('cutover').start)}**. Critical path: "
            + " → ".join(runbook.critical_path) + ".", ""]
    out += ["## Steps", "", "| | step | start | end | after | why this date | hazards |",
            "|---|---|---|---|---|---|---|"]
    for step in runbook.steps:
        after = ", ".join(e.after for e in step.spec.edges) or "—"
        out.append(f"| {'★' if step.critical else ''} | {step.spec.title} (`{step.spec.id}`) | "
                   f"{_when(step.start)} | {_when(step.end)} | {after} | {step.why} | "
                   f"{_hazards(step)} |")
    out += ["", "★ on the critical path.", "", "## Fallbacks", ""]
    out += [f"- **{s.spec.id}**: {s.spec.fallback}" for s in runbook.steps if s.spec.fallback]
    if runbook.findings:
        out += ["", "## Hazards", ""]
        out += [f"- **{f.severity}** `{f.rule}` {f.message}. *{f.advice}*"
                for f in runbook.findings]
    cited = {fact.key: fact for f in runbook.findings for fact in f.facts}
    if cited:
        out += ["", "## Facts cited", ""]
        out += [f"- {fact.key} = {fact.value if fact.known else 'unknown: ' + str(fact.error)}"
                f" ({fact.source}, {fact.observed_at:%Y-%m-%d %H:%M} UTC)"
                for fact in cited.values()]
    if runbook.assumptions:
        out += ["", "## Assumptions", ""] + [f"- {a}" for a in runbook.assumptions]
    return "\n".join(out) + "\n"


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("mailferry.plan", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.filters["when"] = _when


def runbook_html(runbook: Runbook) -> str:
    cited = {fact.key: fact for f in runbook.findings for fact in f.facts}
    return _ENV.get_template("runbook.html.j2").render(
        rb=runbook, m=runbook.migration, cited=list(cited.values()))


def _ics_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _ics_text(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> list[str]:
    """RFC 5545 3.1: lines longer than 75 octets continue on lines starting with a space."""
    data, parts = line.encode(), list[str]()
    while len(data) > 75:
        cut = 75 if not parts else 74
        while (data[cut] & 0xC0) == 0x80:  # do not split a UTF-8 sequence
            cut -= 1
        parts.append(data[:cut].decode())
        data = data[cut:]
    parts.append(data.decode())
    return [parts[0]] + [" " + p for p in parts[1:]]


def runbook_icalendar(runbook: Runbook) -> str:
    m = runbook.migration
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mailferry//runbook//EN",
             "CALSCALE:GREGORIAN", f"X-WR-CALNAME:{_ics_text('mailferry: ' + m.name)}"]
    for step in runbook.steps:
        end = step.end if step.end > step.start else step.start + dt.timedelta(minutes=30)
        uid = hashlib.sha256(f"{m.name}/{step.spec.id}".encode()).hexdigest()[:24]
        notes = [step.why] + [f"hazard {f.rule}: {f.message}" for f in step.hazards]
        if step.spec.fallback:
            notes.append(f"fallback: {step.spec.fallback}")
        stamp = _ics_time(runbook.generated_at)
        for line in ["BEGIN:VEVENT", f"UID:{uid}@mailferry", f"DTSTAMP:{stamp}",
                     f"DTSTART:{_ics_time(step.start)}",
                     f"DTEND:{_ics_time(end)}", f"SUMMARY:{_ics_text(step.spec.title)}",
                     f"DESCRIPTION:{_ics_text(chr(10).join(notes))}", "END:VEVENT"]:
            lines += _fold(line)
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
