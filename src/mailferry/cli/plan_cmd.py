"""`mailferry plan`: the runbook, as Markdown, a self-contained HTML page or iCalendar.

Runs the checks first (unless --no-check) so the dates rest on facts. Exit status 1 if the
plan as written is impossible (the output says why and gives the earliest feasible date).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from mailferry.cli.check_cmd import check_options, load_with_overrides
from mailferry.plan import (
    Category,
    Facts,
    build_runbook,
    evaluate,
    run_checks,
    runbook_html,
    runbook_icalendar,
    runbook_markdown,
    utc_now,
)

RENDERERS = {"markdown": runbook_markdown, "html": runbook_html, "ics": runbook_icalendar}


@click.command()
@check_options
@click.option("--format", "output_format", type=click.Choice(sorted(RENDERERS)),
              default="markdown", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@click.option("--no-check", is_flag=True,
              help="Plan from the file alone: no RDAP, DNS or server checks.")
def plan(migration_file: Path, only: frozenset[Category],
         nameservers: tuple[tuple[str, int], ...], rdap_url: str | None,
         now: dt.datetime | None, output_format: str, output: Path | None,
         no_check: bool) -> int:
    """Write the runbook: dated steps, critical path, hazards, fallbacks."""
    migration = load_with_overrides(migration_file, nameservers, rdap_url)
    moment = now or utc_now()
    if no_check:
        facts = Facts()
        findings = evaluate(migration, facts, {Category.PLAN}, moment)
    else:
        report = run_checks(migration, only, now=moment)
        facts, findings = report.facts, report.findings
    runbook = build_runbook(migration, facts, findings, moment)
    text = RENDERERS[output_format](runbook)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8", newline="")
        click.echo(f"wrote {output}", err=True)
    if not runbook.feasible:
        click.echo(f"mailferry: the plan is not feasible; earliest cutover "
                   f"{runbook.earliest_cutover:%Y-%m-%d %H:%M %Z}", err=True)
        return 1
    return 0
