"""Where a migration stands, at a glance: the one data layer behind `mailferry serve` and
`report --html`.

`read_overview` reads the state store (SQL aggregates only: fast at 10,000 users) and the
project, and returns a typed `Overview`: percent done (mailboxes, messages, bytes) overall
and per wave, throughput and ETA from the syncs' progress samples, failures, the runbook and
its next dated step, and the panels other packages add (relay queue, later the monitor).
Nothing is kept between calls: each call reads the store again, so several syncs, on this
machine or others sharing the store, show up in one view.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from mailferry.plan import Category, Facts, Runbook, Step, build_runbook, evaluate
from mailferry.project import MailboxUser, ProjectSettings
from mailferry.report.formats import percent
from mailferry.report.panels import PANELS, Panel, PanelContext
from mailferry.store import (
    Activity,
    ProjectState,
    RosterEntry,
    Tally,
    activity,
    roster_digest,
    wave_tallies,
)

RATE_WINDOW = 300.0  # seconds of samples behind the throughput and the ETA
RUNNING_WITHIN = 15.0  # a sync that sampled this recently is running
DONE = ("synced", "verified")


@dataclass(frozen=True)
class WaveProgress:
    name: str  # "" = not assigned to a wave
    tally: Tally
    paused: bool = False
    avg_message_bytes: float = 0.0  # over the whole project, to estimate bytes left

    @property
    def label(self) -> str:
        return self.name or "(unassigned)"

    @property
    def done_mailboxes(self) -> int:
        return sum(self.tally.by_status.get(s, 0) for s in DONE)

    @property
    def mailboxes_percent(self) -> float | None:
        return percent(self.done_mailboxes, self.tally.mailboxes)

    @property
    def messages_percent(self) -> float | None:
        """Over the mailboxes a sync has sized (see `tally.sized`)."""
        return percent(self.tally.scope - self.tally.left, self.tally.scope)

    @property
    def bytes_left(self) -> float:
        """Estimated: messages left times the average message size copied so far."""
        return self.tally.left * self.avg_message_bytes

    @property
    def bytes_percent(self) -> float | None:
        if not self.tally.copied_bytes:
            return None
        return percent(self.tally.copied_bytes, self.tally.copied_bytes + self.bytes_left)

    def status(self, name: str) -> int:
        return self.tally.by_status.get(name, 0)


@dataclass(frozen=True)
class Throughput:
    messages_per_second: float
    bytes_per_second: float
    running: bool  # a sync sampled in the last RUNNING_WITHIN seconds
    last_sample_at: float | None


@dataclass(frozen=True)
class Overview:
    project: str
    zone: ZoneInfo
    now: dt.datetime  # aware, in `zone`
    total: WaveProgress
    waves: list[WaveProgress]
    throughput: Throughput
    activity: Activity
    eta: dt.datetime | None  # when the sized messages left will be copied at this rate
    runbook: Runbook | None  # None: the project file has no [migration] section
    panels: list[tuple[Panel, object]] = field(default_factory=list)  # (panel, its data)

    @property
    def failed_mailboxes(self) -> int:
        return self.total.status("failed")

    @property
    def failed_messages(self) -> int:
        return self.total.tally.failed_messages

    @property
    def unsized(self) -> int:
        return self.total.tally.mailboxes - self.total.tally.sized

    @property
    def next_step(self) -> Step | None:
        """The runbook step in progress now, or the next one to start."""
        if self.runbook is None:
            return None
        upcoming = [s for s in self.runbook.steps if s.end > self.now or s.start >= self.now]
        return min(upcoming, key=lambda s: s.start) if upcoming else None


@dataclass(frozen=True)
class Roster:
    """users.csv as the store keeps it; a caller that reads the file once keeps this too."""

    entries: list[RosterEntry]
    digest: str


def roster_of(users: list[MailboxUser]) -> Roster:
    entries = [RosterEntry(u.source_user, u.target_user, u.wave, u.department) for u in users]
    return Roster(entries, roster_digest(entries))


def read_overview(settings: ProjectSettings, users: list[MailboxUser] | Roster,
                  state: ProjectState, *, now: float | None = None,
                  panels: list[Panel] | None = None) -> Overview:
    """`users`: users.csv as loaded, or its `Roster` (cheaper when called again and again)."""
    moment = time.time() if now is None else now
    roster = users if isinstance(users, Roster) else roster_of(users)
    state.sync_roster(roster.entries, roster.digest)
    with state.snapshot() as conn:
        tallies = wave_tallies(conn)
        seen = activity(conn, moment, RATE_WINDOW)
    paused = state.paused_waves()
    total = Tally()
    for tally in tallies.values():
        total.add(tally)
    avg = total.copied_bytes / total.copied if total.copied else 0.0
    waves = [WaveProgress(name, tally, name in paused, avg) for name, tally in tallies.items()]
    if "" in tallies:  # the unassigned last, as `status` shows them
        waves.append(waves.pop([w.name for w in waves].index("")))
    running = seen.last_sample_at is not None and moment - seen.last_sample_at < RUNNING_WITHIN
    rate = Throughput(seen.window_messages / seen.window_seconds,
                      seen.window_bytes / seen.window_seconds, running, seen.last_sample_at)
    zone = settings.timezone
    when = dt.datetime.fromtimestamp(moment, zone)
    eta = None
    if running and rate.messages_per_second > 0 and total.left:
        eta = when + dt.timedelta(seconds=total.left / rate.messages_per_second)
    overview = Overview(settings.name, zone, when, WaveProgress("", total, False, avg), waves,
                        rate, seen, eta, _runbook(settings, when))
    context = PanelContext(settings, state, moment)
    for panel in PANELS if panels is None else panels:
        data = panel.read(context)
        if data is not None:
            overview.panels.append((panel, data))
    return overview


def _runbook(settings: ProjectSettings, now: dt.datetime) -> Runbook | None:
    """The plan from the file alone (no DNS or RDAP look-ups on a page view), as
    `mailferry plan --no-check` makes it."""
    migration = settings.migration
    if migration is None:
        return None
    findings = evaluate(migration, Facts(), {Category.PLAN}, now)
    return build_runbook(migration, Facts(), findings, now)
