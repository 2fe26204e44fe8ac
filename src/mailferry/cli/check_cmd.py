"""`mailferry check`: facts from the real world and the hazards they reveal.

Exit status 1 if a finding is an error, 0 otherwise, 2 for bad input (the migration file,
an option). `--json` prints facts and findings for scripts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from mailferry.plan import Category, CheckReport, Severity, run_checks
from mailferry.project import Migration, load, parse_nameserver

from .output import Column, line, make_console, print_rows, styled
from .project_file import project_option

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def _categories(_ctx: click.Context, _param: click.Parameter, value: str | None
                ) -> frozenset[Category]:
    if not value:
        return frozenset(Category)
    try:
        return frozenset(Category(name.strip()) for name in value.split(",") if name.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: choose from {', '.join(c.value for c in Category)}") from None


def _nameservers(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
                 ) -> tuple[tuple[str, int], ...]:
    try:
        return tuple(parse_nameserver(v) for v in value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _now(_ctx: click.Context, _param: click.Parameter, value: dt.datetime | None
         ) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def check_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options `check` and `plan` share: which file, which checks, where to look."""
    for option in reversed([
        project_option,
        click.option("--only", callback=_categories, metavar="LIST",
                     help="Comma-separated categories: domain, dns, servers, plan (default all)."),
        click.option("--nameserver", "nameservers", multiple=True, callback=_nameservers,
                     metavar="IP[:PORT]", help="Ask only this DNS server (repeatable); "
                     "overrides [check] nameservers."),
        click.option("--rdap-url", help="Ask only this RDAP server; overrides [check] rdap_url."),
        click.option("--now", type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
                     callback=_now, help="Reason as if it were this time (UTC), for what-ifs."),
    ]):
        command = option(command)
    return command


def load_with_overrides(path: Path, nameservers: tuple[tuple[str, int], ...],
                        rdap_url: str | None) -> Migration:
    migration = load(path).plan
    check = migration.check
    if nameservers:
        check = dataclasses.replace(check, nameservers=nameservers)
    if rdap_url:
        check = dataclasses.replace(check, rdap_url=rdap_url if rdap_url.endswith("/")
                                    else rdap_url + "/")
    return dataclasses.replace(migration, check=check)


@click.command()
@check_options
@click.option("--json", "as_json", is_flag=True, help="Print facts and findings as JSON.")
def check(migration_file: Path, only: frozenset[Category],
          nameservers: tuple[tuple[str, int], ...], rdap_url: str | None,
          now: dt.datetime | None, as_json: bool) -> int:
    """Check the domain (RDAP), DNS and servers for migration hazards."""
    migration = load_with_overrides(migration_file, nameservers, rdap_url)
    report = run_checks(migration, only, now=now)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report, make_console())
    return 1 if report.worst == Severity.ERROR else 0


def print_report(report: CheckReport, console: Console) -> None:
    known = sum(1 for f in report.facts if f.known)
    unknown = len(report.facts.unknown())
    console.print(line(styled(report.migration.name, "bold"),
                       f": {known} facts observed, {unknown} unknown, "
                       f"{len(report.findings)} findings "
                       f"({', '.join(sorted(report.categories))})"))
    if not report.findings:
        console.print(styled("no hazards found", "green"))
        return
    # rule ids are for grep: never split (columns without wrap are never folded)
    print_rows(console, "Findings", [Column("severity"), Column("rule"),
                                     Column("finding", wrap=True), Column("advice", wrap=True)],
               [[styled(f.severity, _STYLE[f.severity]), f.rule, f.message, f.advice]
                for f in report.findings])
