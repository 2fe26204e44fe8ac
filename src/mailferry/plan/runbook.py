"""`mailferry plan`: the migration as a dependency graph of dated steps.

Each step starts at the earliest moment its predecessors (plus a lag: the lead time of a
notice, the old MX TTL) and its own constraints (now, a maintenance window, the end of a
pending registrar transfer) allow. Steps with a date in migration.toml (cutover, pilot,
notice, transfer) keep it when it is feasible; when it is not, the runbook says why and uses
the earliest feasible date instead. The critical path is the chain of constraints that
decides when the last step ends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from mailferry.plan.constraints import (
    LOW_TTL,
    TRANSFER_DAYS,
    mx_ttl,
    start_of_day,
    transfer_blackout,
)
from mailferry.plan.facts import Facts
from mailferry.plan.findings import Finding
from mailferry.project import Migration, next_window_start

ASSUMED_TTL = 86400  # when the MX TTL is unknown the plan assumes a day, and says so


@dataclass(frozen=True)
class Edge:
    after: str  # the step that must end first
    lag: dt.timedelta = dt.timedelta()
    why: str = ""  # what the lag is, for the critical path


@dataclass
class StepSpec:
    id: str
    title: str
    edges: list[Edge] = field(default_factory=list)
    duration: dt.timedelta = dt.timedelta()
    in_window: bool = False  # must start inside a maintenance window
    changes_dns: bool = False  # impossible while a registrar transfer is pending
    wanted: dt.datetime | None = None  # the date migration.toml asks for
    fallback: str = ""


@dataclass
class Step:
    spec: StepSpec
    earliest: dt.datetime
    start: dt.datetime
    why: str  # what decides the earliest start
    binding: str | None  # the predecessor that decides it
    hazards: list[Finding] = field(default_factory=list)
    critical: bool = False

    @property
    def end(self) -> dt.datetime:
        return self.start + self.spec.duration


@dataclass
class Runbook:
    migration: Migration
    generated_at: dt.datetime
    steps: list[Step]
    critical_path: list[str]
    problems: list[str]  # why the plan as written is impossible
    assumptions: list[str]
    findings: list[Finding]

    @property
    def feasible(self) -> bool:
        return not self.problems

    @property
    def earliest_cutover(self) -> dt.datetime:
        return self.step("cutover").earliest

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.spec.id == step_id)


def build_runbook(migration: Migration, facts: Facts, findings: list[Finding],
                  now: dt.datetime) -> Runbook:
    assumptions: list[str] = []
    specs = _specs(migration, facts, assumptions)
    dns_free = _dns_free_from(migration, facts, now)
    steps: dict[str, Step] = {}
    problems: list[str] = []
    for spec in specs:
        step = _schedule(spec, steps, migration, now.astimezone(migration.timezone), dns_free)
        if spec.wanted is not None and spec.wanted < step.earliest:
            problems.append(f"{spec.title}: {_fmt(spec.wanted)} is too early; the earliest "
                            f"feasible is {_fmt(step.earliest)} ({step.why})")
        step.hazards = [f for f in findings if spec.id in f.blocks]
        steps[spec.id] = step
    expiry = migration.source.account_expiry
    if expiry is not None and steps["decommission"].start.date() > expiry:
        problems.append(f"the old accounts expire on {expiry}, but they are needed until "
                        f"{_fmt(steps['decommission'].start)} (delta sync, verify, rollback)")
    path = _critical_path(steps)
    for step_id in path:
        steps[step_id].critical = True
    return Runbook(migration, now, list(steps.values()), path, problems, assumptions, findings)


def _schedule(spec: StepSpec, done: dict[str, Step], migration: Migration,
              now: dt.datetime, dns_free: dt.datetime | None) -> Step:
    earliest, why, binding = now, "now", None
    for edge in spec.edges:
        if edge.after not in done:
            continue
        moment = done[edge.after].end + edge.lag
        if moment > earliest:
            earliest, binding = moment, edge.after
            why = f"after {edge.after}" + (f" + {edge.why}" if edge.why else "")
    if spec.changes_dns and dns_free is not None and dns_free > earliest:
        earliest, why, binding = dns_free, "DNS is frozen until the registrar transfer ends", None
    if spec.in_window and migration.windows:
        local = next_window_start(migration.windows, earliest.replace(tzinfo=None))
        snapped = local.replace(tzinfo=migration.timezone)
        if snapped > earliest:
            earliest, why = snapped, f"{why}, then the next maintenance window"
    start = spec.wanted if spec.wanted is not None and spec.wanted >= earliest else earliest
    return Step(spec, earliest, start, why, binding)


def _critical_path(steps: dict[str, Step]) -> list[str]:
    """From the step that ends last back through the predecessors that bound each start."""
    order = list(steps)
    last = max(steps.values(), key=lambda s: (s.end, order.index(s.spec.id)))  # ties: later
    path = [last.spec.id]
    while True:
        step = steps[path[-1]]
        if step.binding is None or step.start > step.earliest:  # a later date was chosen
            return path[::-1]
        path.append(step.binding)


def _dns_free_from(migration: Migration, facts: Facts, now: dt.datetime) -> dt.datetime | None:
    """When DNS can change again if a transfer is pending now."""
    for domain in migration.domains:
        status = facts.known("rdap.status", domain)
        if status is not None and "pendingTransfer" in status.value:
            return transfer_blackout(now)[1].astimezone(migration.timezone)
    return None


def _fmt(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def _day_start(day: dt.date | None, migration: Migration) -> dt.datetime | None:
    return start_of_day(day, migration) if day is not None else None


def _specs(migration: Migration, facts: Facts, assumptions: list[str]) -> list[StepSpec]:
    m = migration
    ttl = mx_ttl(m, facts)
    if ttl is None:
        ttl = ASSUMED_TTL
        assumptions.append(f"MX TTL unknown: assumed {ASSUMED_TTL} s; run `mailferry check`")
    days = dt.timedelta(days=1)
    specs: list[StepSpec] = []
    first_dns: list[Edge] = []
    if m.domain.new_nameservers:
        specs.append(StepSpec(
            "change-nameservers", f"Move DNS hosting to {', '.join(m.domain.new_nameservers)}",
            duration=2 * days, changes_dns=True,
            fallback="Keep the old DNS host serving the same zone until the NS TTL has passed."))
        first_dns.append(Edge("change-nameservers"))
    specs += [
        StepSpec("notify", f"Notify users (at least {m.notify.lead_days} days ahead)",
                 wanted=_day_start(m.notify.date, m)),
        StepSpec("lower-ttl", f"Lower the MX TTL from {ttl} s to {LOW_TTL} s", first_dns,
                 changes_dns=True, fallback="Restore the previous TTL; nothing else changed."),
        StepSpec("relay", "Start dual delivery (relay) to old and new mailboxes",
                 fallback="Route all mail to the old provider only."),
    ]
    ready = [Edge("notify", dt.timedelta(days=m.notify.lead_days), "lead time"),
             Edge("relay")]
    if m.plan.backup:
        specs.append(StepSpec("backup", "Back up the source mailboxes", duration=days))
        ready.append(Edge("backup"))
    waves_after = ready
    if m.pilot is not None and m.pilot.size > 0:
        specs.append(StepSpec(
            "pilot", f"Pilot wave: {m.pilot.size} users, with dual delivery", ready,
            duration=dt.timedelta(days=m.pilot.days), in_window=True,
            wanted=m.wave_times["pilot"].start if "pilot" in m.wave_times else None,
            fallback="Pilot users go back to the old accounts; dual delivery kept their mail."))
        waves_after = [Edge("pilot")]
    dated = sorted((t.start, w) for w, t in m.wave_times.items() if w != "pilot")
    named = f" ({', '.join(f'{w} {start:%Y-%m-%d %H:%M}' for start, w in dated)})" if dated else ""
    specs += [
        StepSpec("waves", f"Migrate the other users in waves{named}", waves_after,
                 duration=days, in_window=True, wanted=dated[0][0] if dated else None,
                 fallback="Stop the wave; its users keep the old accounts."),
        StepSpec("cutover", "Cut over: point MX to the new provider",
                 [Edge("waves"), Edge("lower-ttl", dt.timedelta(seconds=ttl),
                                      f"old TTL {ttl} s")],
                 in_window=True, changes_dns=True, wanted=m.cutover,
                 fallback=m.plan.fallback or "Restore the old MX record (the TTL is low)."),
        StepSpec("delta", "Final delta pass of every mailbox",
                 [Edge("cutover", dt.timedelta(seconds=LOW_TTL), "mail drains from old MX")],
                 duration=dt.timedelta(days=m.plan.delta_days),
                 fallback="Run it again: the copy is incremental and never duplicates."),
        StepSpec("verify", "Verify: every message copied, counts and checksums",
                 [Edge("delta")], duration=dt.timedelta(hours=4)),
        StepSpec("monitor", f"Monitor mail flow; rollback possible for "
                 f"{m.plan.rollback_days} days", [Edge("cutover")],
                 duration=dt.timedelta(days=m.plan.rollback_days)),
        StepSpec("decommission", "Decommission the old accounts",
                 [Edge("monitor"), Edge("verify")],
                 fallback="Keep the backup; do not delete before the rollback period ends."),
    ]
    if m.domain.registrar_transfer is not None:
        specs.append(StepSpec(
            "registrar-transfer", "Transfer the domain to the new registrar", [Edge("monitor")],
            duration=dt.timedelta(days=TRANSFER_DAYS), changes_dns=True,
            wanted=_day_start(m.domain.registrar_transfer, m),
            fallback="Keep DNS hosting away from the registrar, so a stalled transfer "
                     "cannot freeze DNS."))
    return specs
