"""`mailferry waves`, `status` and `report`: a migration project's users, waves and progress.

All read migration.toml (-p FILE, default ./migration.toml) and its users.csv;
status and report read the state file that `mailferry sync` writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.text import Text

from mailferry.batch import PILOT, draw_pilot, select_mailboxes, waves_of
from mailferry.errors import ConfigError
from mailferry.project import MailboxUser, ProjectSettings, assign_waves, load, load_users
from mailferry.report import (
    ProjectReport,
    attach_monitoring,
    build_report,
    count,
    human_bytes,
    local,
    read_overview,
    report_html,
    report_json,
)
from mailferry.status import MailboxStatus
from mailferry.store import STATUSES, MailboxInventory, MailboxRecord, ProjectState

from .output import Column, make_console, print_json, print_rows, styled
from .people_status import people_json, print_people
from .project_file import project_option

_STYLE = {MailboxStatus.SYNCED: "green", MailboxStatus.VERIFIED: "bold green",
          MailboxStatus.FAILED: "bold red", MailboxStatus.PAUSED: "yellow",
          MailboxStatus.COPYING: "cyan", MailboxStatus.PENDING: "dim"}


project_argument = project_option  # the name commands used when it was an argument


def mailbox_selection(command: Callable[..., Any]) -> Callable[..., Any]:
    """--wave and --user, as select_mailboxes takes them (`wave`, `names`)."""
    command = click.option("--user", "names", multiple=True,
                           help="Only this user (repeatable).")(command)
    return click.option("--wave", default=None, help="Only the mailboxes of this wave.")(command)


def load_project(migration_file: Path) -> tuple[ProjectSettings, list[MailboxUser]]:
    settings = load(migration_file).sync
    return settings, load_users(settings.users_file)


def read_runners(settings: ProjectSettings) -> dict[str, str]:
    """Which process (host:pid: a sync, or a worker on any machine) copies which mailbox."""
    if not settings.sync.has_state():
        return {}
    with ProjectState.open(settings.state_location()) as state:
        return state.runners()


def read_records(settings: ProjectSettings) -> dict[str, MailboxRecord]:
    if not settings.sync.has_state():
        return {}  # nothing synced yet: everyone is pending
    with ProjectState.open(settings.state_location()) as state:
        return state.records()


def read_inventories(settings: ProjectSettings) -> dict[str, MailboxInventory]:
    """What `mailferry inventory` counted at the source, per user (none before it ran)."""
    if not settings.sync.has_state():
        return {}
    with ProjectState.open(settings.state_location()) as state:
        return state.inventories()


def at_source(found: list[MailboxInventory] | MailboxInventory | None) -> str:
    """`12 msgs, 50.3 kB`: what the inventory counted (for one mailbox or a wave)."""
    if found is None or found == []:
        return "-"
    if isinstance(found, MailboxInventory):
        if found.error:
            return "not counted"
        found = [found]
    return (f"{count(sum(f.messages for f in found))} msgs, "
            f"{human_bytes(sum(f.bytes for f in found))}")


@click.command()
@project_argument
@click.option("--draw-pilot", "write_pilot", is_flag=True,
              help="Put [pilot] size unassigned users, spread across departments, in wave "
                   "'pilot' (written to users.csv).")
@click.option("--size", type=click.IntRange(1), default=None,
              help="Pilot size (default: [pilot] size).")
@click.option("--json", "as_json", is_flag=True)
def waves(migration_file: Path, write_pilot: bool, size: int | None, as_json: bool) -> int:
    """Show the waves of users.csv, and draw the pilot wave."""
    settings, users = load_project(migration_file)
    pilot_size = size or (settings.pilot.size if settings.pilot else 0)
    departments = settings.pilot.departments if settings.pilot else ()
    has_pilot = any(u.wave == PILOT for u in users)
    proposal: list[MailboxUser] = []
    if write_pilot:
        if has_pilot:
            raise ConfigError(f"wave {PILOT!r} already has users: edit users.csv to change it",
                              where=str(settings.users_file))
        if not pilot_size:
            raise ConfigError("no pilot size: set [pilot] size or use --size",
                              where=str(settings.path))
        proposal = draw_pilot(users, pilot_size, departments)
        users = assign_waves(settings.users_file, {u.source_user: PILOT for u in proposal})
    elif not has_pilot and pilot_size:
        proposal = draw_pilot(users, pilot_size, departments)
    counted = build_report(settings.name, users, {}, inventories=read_inventories(settings))
    sized = {w.name: w.counted for w in counted.waves}
    if as_json:
        print_json({"waves": [{"wave": w.name, "users": w.users, "departments": w.departments,
                               "inventory": {"counted": len(sized[w.name]),
                                             "messages": sum(i.messages for i in sized[w.name]),
                                             "bytes": sum(i.bytes for i in sized[w.name])}}
                              for w in waves_of(users)],
                    "pilot": [u.source_user for u in proposal], "pilot_written": write_pilot})
        return 0
    console = make_console()
    source = [Column("at source", "right")] if any(sized.values()) else []  # inventory ran
    print_rows(console, f"Waves of {settings.users_file.name}",
               [Column("wave"), Column("users", "right"), *source,
                Column("departments", wrap=True)],
               [[wave.name or "(unassigned)", str(wave.users),
                 *(at_source(sized[wave.name]) for _ in source),
                 ", ".join(f"{d} {n}" for d, n in wave.departments.items())]
                for wave in waves_of(users)])
    if proposal:
        verb = "Pilot drawn and written to users.csv" if write_pilot else (
            "Proposed pilot (write it with --draw-pilot)")
        console.print(f"{verb}: " + ", ".join(
            f"{u.source_user} ({u.department or '-'})" for u in proposal))
    return 0


@click.command()
@project_argument
@click.option("--wave", default=None, help="Only this wave.")
@click.option("--user", "names", multiple=True, help="Only this user (repeatable).")
@click.option("--json", "as_json", is_flag=True)
def status(migration_file: Path, wave: str | None, names: tuple[str, ...], as_json: bool) -> int:
    """Where every mailbox stands: per wave and per user."""
    settings, users = load_project(migration_file)
    users = select_mailboxes(users, wave=wave, names=names)
    report = build_report(settings.name, users, read_records(settings),
                          inventories=read_inventories(settings))
    attach_monitoring(report, settings.state_location())
    selected = {u.source_user for u in users}
    workers = {user: runner for user, runner in read_runners(settings).items()
               if user in selected}
    if as_json:
        print_json({**report_json(report), **people_json(settings, selected),
                    "workers": workers})
        return 0
    console = make_console()
    print_status(report, console, settings.timezone)
    for user, runner in sorted(workers.items()):
        console.print(f"{user}: being copied by {runner}")
    print_monitoring(report, console, settings.timezone)
    print_people(settings, selected, console)
    return 0


def print_status(report: ProjectReport, console: Console, zone: ZoneInfo) -> None:
    """Per wave, then per mailbox; times in the migration's time zone (`zone`). What
    `inventory` counted at the source is a column once it has run."""
    source = [Column("at source", "right")] if any(u.inventory for u in report.users) else []
    print_rows(console, f"Waves: {report.project}",
               [Column("wave"), Column("users", "right"), Column("mailboxes"),
                Column("messages", "right"), Column("size", "right"), *source],
               [[wave.label, str(len(wave.users)), Text(", ").join(
                   styled(f"{wave.counts[s]} {s}", _STYLE[s]) for s in STATUSES
                   if wave.counts[s]),
                 str(sum(u.messages for u in wave.users)),
                 human_bytes(sum(u.bytes for u in wave.users)),
                 *(at_source(wave.counted) for _ in source)]
                for wave in report.waves])
    own = list(dict.fromkeys(name for u in report.users for name, _ in u.user.extra))
    rows: list[list[str | Text]] = []
    for user in report.users:
        record = user.record
        errors = record.error or "" if record else ""
        if record and record.failed:
            errors = f"{record.failed} messages failed" + (f"; {errors}" if errors else "")
        mine = dict(user.user.extra)
        rows.append([
            user.user.source_user, user.user.wave or "-", user.user.department or "-",
            *(mine.get(name, "") for name in own),
            styled(user.status, _STYLE.get(user.status, "")), str(user.messages),
            human_bytes(user.bytes), *(at_source(user.inventory) for _ in source),
            _when(record.last_sync if record else None, zone), errors])
    print_rows(console, "Mailboxes",
               [Column("user"), Column("wave"), Column("department"),
                *(Column(name) for name in own), Column("status"),
                Column("messages", "right"), Column("size", "right"),
                *source, Column("last sync"),
                Column("errors", wrap=True)], rows)


def print_monitoring(report: ProjectReport, console: Console, zone: ZoneInfo) -> None:
    """The Monitoring section: the last monitor pass's checks that are not simply ok, the
    open incidents and the late mail per user (nothing if the monitor never ran)."""
    data = report.extra.get("monitoring")
    if not data or not data.get("last_pass"):
        return
    last = data["last_pass"]
    styles = {"alert": "bold red", "warn": "yellow", "info": "dim", "ok": "green"}
    print_rows(console, f"Monitoring: last pass {_when(last['at'], zone)} ({last['phase']}), "
                        f"{last['alerts']} need a person",
               [Column("status"), Column("area"), Column("subject"), Column("what", wrap=True)],
               [[styled(check["status"], styles[check["status"]]), check["area"],
                 check["subject"], check["message"]]
                for check in last["checks"] if check["status"] != "ok"])
    if data["late_mail"]:
        print_rows(console, "Late mail copied after the cutover",
                   [Column("user"), Column("messages", "right"), Column("last pass", "right"),
                    Column("error", wrap=True)],
                   [[row["source_user"], str(row["messages"]), str(row["last_messages"]),
                     row["error"] or ""] for row in data["late_mail"]])


def _when(epoch: float | None, zone: ZoneInfo) -> str:
    return local(epoch, zone) if epoch is not None else "-"


@click.command()
@project_argument
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write a self-contained HTML page here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report(migration_file: Path, html_path: Path | None, as_json: bool) -> int:
    """The project's report: per wave and user, every failure in the server's words.

    Without --html or --json, the same on the terminal: the waves, each mailbox, the
    monitoring, and where the full page can be written."""
    settings, users = load_project(migration_file)
    data = build_report(settings.name, users, read_records(settings),
                        now=dt.datetime.now(dt.UTC), zone=settings.timezone,
                        inventories=read_inventories(settings))
    attach_monitoring(data, settings.state_location())
    if html_path is not None:
        with ProjectState.open(settings.state_location()) as state:
            overview = read_overview(settings, users, state)
        try:
            html_path.write_text(report_html(data, overview=overview), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror}", where=str(html_path)) from None
    if as_json:
        print_json(report_json(data))
    if html_path is None and not as_json:
        console = make_console()
        print_status(data, console, settings.timezone)
        print_monitoring(data, console, settings.timezone)
        console.print(f"The whole report, with folders and verification, as one page: "
                      f"mailferry report -p {migration_file} --html report.html")
    return 0
