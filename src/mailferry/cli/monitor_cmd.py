"""`mailferry monitor`, `deliverability` and `dmarc`: after the cutover (docs/monitor.md).

monitor: one pass with `--once` (for cron), else a pass every `--interval` until SIGTERM or
Ctrl-C. Exit 1 when something needs a person (the last pass's alerts), 2 for bad input.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mailferry.errors import ConfigError
from mailferry.imap import TlsPolicy
from mailferry.monitor import (
    CheckStatus,
    Clock,
    MonitorContext,
    MonitorMetrics,
    PassResult,
    ShiftedClock,
    SystemClock,
    dmarc_sources,
    files,
    findings,
    folder_messages,
    ingest,
    load_context,
    run_deliverability,
    run_pass,
)
from mailferry.plan import Severity

from .output import line, make_console, print_json, styled
from .project_cmd import project_argument

_STYLE = {CheckStatus.OK: "green", CheckStatus.INFO: "dim", CheckStatus.WARN: "yellow",
          CheckStatus.ALERT: "bold red"}


def _now(_ctx: click.Context, _param: click.Parameter, value: dt.datetime | None
         ) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


_now_option = click.option(
    "--now", type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]), callback=_now,
    help="Run as if it were this time (UTC): the clock starts there.")
_insecure_option = click.option("--insecure", is_flag=True,
                                help="Don't verify IMAP TLS certificates (not advised).")


def _clock(now: dt.datetime | None) -> Clock:
    return ShiftedClock(now) if now is not None else SystemClock()


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


@click.command()
@project_argument
@click.option("--once", is_flag=True, help="One pass, then exit (for cron).")
@click.option("--interval", type=click.FloatRange(1), default=None,
              help="Seconds between passes (default [monitor] interval).")
@click.option("--passes", type=click.IntRange(1), default=None,
              help="Stop after this many passes.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on this port while looping.")
@click.option("--metrics-address", default="127.0.0.1", show_default=True,
              help="Address of the metrics endpoint.")
@_now_option
@_insecure_option
@click.option("--json", "as_json", is_flag=True, help="Print each pass as JSON.")
def monitor(migration_file: Path, once: bool, interval: float | None, passes: int | None,
            metrics_port: int | None, metrics_address: str, now: dt.datetime | None,
            insecure: bool, as_json: bool) -> int:
    """Watch DNS, mail flow, late mail, the relay and DMARC after the cutover."""
    stop = threading.Event()
    ctx = load_context(migration_file, _clock(now), TlsPolicy(verify=not insecure), stop)
    metrics = MonitorMetrics()
    server: Any = None
    try:
        if metrics_port is not None and not once:
            server = metrics.serve(metrics_port, metrics_address)
        _stop_on_signals(stop)
        count, limit = 0, 1 if once else passes
        pause = interval or ctx.monitor.interval
        result: PassResult | None = None
        while not stop.is_set():
            result = run_pass(ctx, metrics)
            count += 1
            if as_json:
                print_json(result.to_json())
            else:
                print_pass(result, make_console())
            if limit is not None and count >= limit:
                break
            ctx.clock.wait(pause, stop)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        ctx.state.close()
    return result.exit_status if result is not None else 0


def print_pass(result: PassResult, console: Console) -> None:
    table = Table(title=f"monitor pass {result.at:%Y-%m-%d %H:%M:%S} UTC ({result.phase})")
    for column in ("status", "area", "subject", "what"):
        table.add_column(column, overflow="fold", no_wrap=column == "status")
    for check in result.checks:
        table.add_row(styled(check.status, _STYLE[check.status]), check.area, check.subject,
                      check.message)
    console.print(table)
    alerts = result.alerts
    console.print(styled(f"{len(alerts)} need a person", "bold red") if alerts
                  else styled("nothing needs a person", "green"))


def _context(migration_file: Path, now: dt.datetime | None, insecure: bool) -> MonitorContext:
    return load_context(migration_file, _clock(now), TlsPolicy(verify=not insecure))


@click.command()
@project_argument
@_now_option
@_insecure_option
@click.option("--json", "as_json", is_flag=True)
def deliverability(migration_file: Path, now: dt.datetime | None, insecure: bool,
                   as_json: bool) -> int:
    """Send test mail from an outside sender to a pilot user on both systems; compare."""
    ctx = _context(migration_file, now, insecure)
    try:
        settings = ctx.migration.deliverability
        if settings is None:
            raise ConfigError("no [deliverability] section: see docs/monitor.md",
                              where=str(migration_file))
        detail = run_deliverability(ctx, settings)
    finally:
        ctx.state.close()
    if as_json:
        print_json(detail)
    else:
        print_deliverability(detail, make_console())
    missing = [r for r in detail["results"] if r["system"] == "new" and not r["arrived"]]
    return 1 if missing else 0


def print_deliverability(detail: dict[str, Any], console: Console) -> None:
    table = Table(title=f"deliverability {detail['at_iso']}: {detail['sender']} -> "
                        f"old {detail['old_address']} / new {detail['new_address']}")
    table.add_column("message")
    for system in ("old", "new"):
        table.add_column(f"{system}: placement")
        table.add_column(f"{system}: latency", justify="right")
        table.add_column(f"{system}: authentication / spam", overflow="fold")
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for row in detail["results"]:
        by_kind.setdefault(row["kind"], {})[row["system"]] = row
    for kind, systems in by_kind.items():
        cells: list[str | Text] = [kind]
        for system in ("old", "new"):
            row = systems.get(system, {})
            cells += [_placement(row),
                      f"{row['latency']:.1f} s" if row.get("latency") is not None else "-",
                      _verdicts(row)]
        table.add_row(*cells)
    console.print(table)


def _placement(row: dict[str, Any]) -> Text:
    if row.get("send_error"):
        return styled(f"not sent: {row['send_error']}", "red")
    if not row.get("arrived"):
        return styled("not arrived", "bold red")
    return (styled(f"{row['folder']} (junk)", "yellow") if row["junk"]
            else styled(row["folder"], "green"))


def _verdicts(row: dict[str, Any]) -> str:
    verdicts: dict[str, list[str]] = row.get("verdicts") or {}
    return "; ".join(f"{name}: {' | '.join(values)}" for name, values in verdicts.items()) \
        or "-"


@click.command()
@click.argument("reports", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-p", "--project", "migration_file", type=click.Path(dir_okay=False, path_type=Path),
              default="migration.toml", show_default=True, help="The migration file.")
@click.option("--from-imap", is_flag=True,
              help="Read the reports in [monitor] dmarc_folder of dmarc_user's new mailbox.")
@_now_option
@_insecure_option
@click.option("--json", "as_json", is_flag=True)
def dmarc(reports: tuple[Path, ...], migration_file: Path, from_imap: bool,
          now: dt.datetime | None, insecure: bool, as_json: bool) -> int:
    """Ingest DMARC aggregate reports (XML, .gz, .zip or report mails; default: [monitor]
    dmarc_dir) and show each sending source before and after the cutover."""
    ctx = _context(migration_file, now, insecure)
    try:
        at = ctx.clock.now()
        paths = list(reports) or ([ctx.monitor.dmarc_dir] if ctx.monitor.dmarc_dir else [])
        done = ingest(ctx.state, files(paths), at.timestamp())
        if from_imap:
            if not ctx.monitor.dmarc_user:
                raise ConfigError("--from-imap needs [monitor] dmarc_user",
                                  where=str(migration_file))
            account = ctx.new_account(ctx.monitor.dmarc_user)
            imap = ingest(ctx.state, folder_messages(account, ctx.monitor.dmarc_folder),
                          at.timestamp())
            done.new, done.known = done.new + imap.new, done.known + imap.known
            done.skipped += imap.skipped
        rows = dmarc_sources(ctx.migration, ctx.state.dmarc_records())
        found = findings(ctx.migration, rows, at)
    finally:
        ctx.state.close()
    if as_json:
        print_json({"ingested": done.new, "already_known": done.known,
                    "skipped": done.skipped, "sources": [r.to_json() for r in rows],
                    "findings": [f.to_json() for f in found]})
    else:
        console = make_console()
        console.print(f"{done.new} new reports, {done.known} already known, "
                      f"{len(done.skipped)} skipped")
        for why in done.skipped:
            console.print(f"  skipped {why}")
        table = Table(title="DMARC: sending sources (messages aligned / sent)")
        for column in ("domain", "source", "names", "before cutover", "after cutover"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row.domain, row.source_ip, ", ".join(row.names),
                          f"{row.before['aligned']}/{row.before['messages']}",
                          f"{row.after['aligned']}/{row.after['messages']}")
        console.print(table)
        for finding in found:
            style = "bold red" if finding.severity == Severity.ERROR else "yellow"
            console.print(line(styled(finding.severity, style),
                               f" {finding.rule}: {finding.message}"))
            console.print(f"  advice: {finding.advice}")
    return 1 if any(f.severity == Severity.ERROR for f in found) else 0
