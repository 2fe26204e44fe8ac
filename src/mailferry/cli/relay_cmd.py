"""`mailferry relay [migration.toml]` and its helpers `queue`, `flush`, `status`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from mailferry.project import load

from .project_file import project_option

DEFAULT_FILE = "migration.toml"


class _RunByDefault(click.Group):
    """`mailferry relay FILE` means `mailferry relay run FILE`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_RunByDefault)
def relay() -> None:
    """Dual-delivery SMTP relay: each message to the old and/or new mail system.

    `mailferry relay [MIGRATION_FILE]` runs it (the same as `relay run`)."""


_file_argument = project_option


@relay.command()
@_file_argument
@click.option("-v", "--verbose", is_flag=True,
              help="Debug log: every SMTP command (for troubleshooting only).")
def run(migration_file: Path, verbose: bool) -> int:
    """Run the relay in the foreground until SIGTERM."""
    from mailferry.relay import Relay

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command log
    asyncio.run(Relay(load(migration_file).relay).run())
    return 0


@relay.command()
@_file_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def queue(migration_file: Path, as_json: bool) -> int:
    """List deliveries waiting in the spool, per upstream, with ages and last errors."""
    from mailferry.relay import Spool

    settings = load(migration_file).relay
    now = time.time()
    rows: list[dict[str, Any]] = []
    for message in Spool(settings.spool).pending().values():
        for delivery in message.deliveries.values():
            rows.append({
                "spool_id": message.spool_id, "upstream": delivery.upstream,
                "from": message.mail_from, "recipients": delivery.recipients,
                "age_seconds": round(now - message.received_at, 1), "size": message.size,
                "attempts": delivery.attempts, "last_error": delivery.last_error,
                "next_attempt_in": round(max(0.0, delivery.next_attempt - now), 1)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return 0
    if not rows:
        click.echo("spool is empty")
    for upstream in sorted({row["upstream"] for row in rows}):
        mine = [row for row in rows if row["upstream"] == upstream]
        click.echo(f"{upstream}: {len(mine)} pending")
        for row in mine:
            click.echo(f"  {row['spool_id']}  age {_age(row['age_seconds'])}  "
                       f"attempts {row['attempts']}  <{row['from']}> -> "
                       f"{', '.join(row['recipients'])}")
            if row["last_error"]:
                click.echo(f"      last error: {row['last_error']}")
    return 0


@relay.command()
@_file_argument
def flush(migration_file: Path) -> int:
    """Ask the running relay to retry every deferred delivery now."""
    from mailferry.relay import Spool

    pid = Spool(load(migration_file).relay.spool).running_relay_pid()
    if pid is None:
        raise click.ClickException("the relay is not running; it retries the spool on start")
    os.kill(pid, signal.SIGUSR1)
    click.echo(f"asked relay (pid {pid}) to retry deferred deliveries now")
    return 0


@relay.command()
@_file_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(migration_file: Path, as_json: bool) -> int:
    """Metrics (accepted, delivered per upstream, deferred, bounced) and queue sizes."""
    from mailferry.relay import Spool

    spool = Spool(load(migration_file).relay.spool)
    report = {"metrics": {}, "pending": {}} | spool.read_status()
    report["running"] = spool.running_relay_pid() is not None
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return 0
    metrics = report.get("metrics", {})
    click.echo(f"relay {'running' if report['running'] else 'not running'}")
    for key in ("accepted", "deferred", "bounced"):
        click.echo(f"  {key}: {metrics.get(key, 0)}")
    for upstream, count in metrics.get("delivered", {}).items():
        click.echo(f"  delivered to {upstream}: {count}")
    for upstream, count in report.get("pending", {}).items():
        click.echo(f"  pending for {upstream}: {count}")
    return 0


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
