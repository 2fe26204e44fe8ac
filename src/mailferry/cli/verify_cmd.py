"""`mailferry verify SOURCE_URL TARGET_URL`: prove the copy of one mailbox complete."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mailferry.report.verify import render_page
from mailferry.verify import VerifyReport, verify_mailbox

from .accounts import (
    check_reachable,
    folder_filters,
    folder_options,
    make_account,
    password_option,
    tls_options,
    tls_policy,
)
from .output import print_json


@click.command("verify")
@click.argument("source_url")
@click.argument("target_url")
@password_option("source")
@password_option("target")
@folder_options
@click.option("--deep", is_flag=True,
              help="Also compare the sha256 of every message's bytes (reads every body).")
@tls_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the result as a self-contained HTML page.")
def verify(source_url: str, target_url: str, source_password_file: Path | None,
           target_password_file: Path | None, maps: tuple[str, ...], include: tuple[str, ...],
           exclude: tuple[str, ...], exclude_special: tuple[str, ...], no_automap: bool,
           deep: bool, insecure: bool, allow_plaintext: bool, ca_file: str | None,
           as_json: bool, html_path: Path | None) -> None:
    """Compare every folder in scope: counts, sizes, each message's fingerprint, flags and
    INTERNALDATE (--deep: its sha256). Give the same folder options as to `copy`.
    Exits 1 if anything in scope is missing, extra or different."""
    tls = tls_policy(insecure, allow_plaintext, ca_file)
    source = make_account("source", source_url, source_password_file, tls)
    target = make_account("target", target_url, target_password_file, tls)
    filters = folder_filters(maps, include, exclude, exclude_special, no_automap)
    check_reachable(source, target)
    report = verify_mailbox(source, target, filters=filters, deep=deep)
    if html_path is not None:
        html_path.write_text(render_page(report), encoding="utf-8")
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report, Console())
    sys.exit(report.exit_status)


def print_report(report: VerifyReport, console: Console) -> None:
    table = Table(title=f"Verify {'(deep) ' if report.deep else ''}{report.source} -> "
                  f"{report.target}")
    for column in ("source folder", "target folder", "status"):
        table.add_column(column)
    for column in ("src msgs", "tgt msgs", "src bytes", "tgt bytes", "differences"):
        table.add_column(column, justify="right")
    for f in report.folders:
        table.add_row(escape(f.source), escape(f.target), f.status, str(f.source_messages),
                      str(f.target_messages), str(f.source_bytes), str(f.target_bytes),
                      str(f.differences))
    console.print(table)
    for excluded in report.excluded:
        console.print(f"excluded: {escape(excluded.folder)} ({escape(excluded.reason)})")
    for d in report.differences:
        mid = escape(d.message_id or "(no Message-ID)")
        console.print(f"[red]{d.kind}[/red] {escape(d.folder)} source UID {d.source_uid or '-'}"
                      f" target UID {d.target_uid or '-'} {mid}: {escape(d.detail)}",
                      soft_wrap=True)
    console.print("no differences: every message in scope is in the target" if report.ok else
                  f"{len(report.differences)} difference(s): " + ", ".join(
                      f"{kind} {report.count(kind)}" for kind in
                      ("missing", "extra", "different", "folder-missing") if report.count(kind)))
