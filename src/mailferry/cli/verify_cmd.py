"""`mailferry verify SOURCE_URL TARGET_URL`: prove the copy of one mailbox complete.
`mailferry verify --project migration.toml [--wave W] [--user U]`: every selected mailbox of
a project, each recorded in the project state (a clean one becomes verified)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from mailferry.errors import ConfigError
from mailferry.report import render_page
from mailferry.verify import VerifyReport, verify_mailbox

from .accounts import (
    folder_filters,
    folder_options,
    make_account,
    master_option,
    message_filter,
    message_options,
    password_option,
    tls_options,
    tls_policy,
)
from .output import line, make_console, print_json, styled
from .project_file import DEFAULT_FILE


@click.command("verify")
@click.argument("source_url", required=False)
@click.argument("target_url", required=False)
@click.option("-p", "--project", "migration_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Verify the mailboxes of this project (migration.toml) "
              "instead of one: accounts and folder filters as `sync` uses them.")
@click.option("--wave", default=None, help="With --project: only the mailboxes of this wave.")
@click.option("--user", "names", multiple=True,
              help="With --project: only this user (repeatable).")
@password_option("source")
@password_option("target")
@master_option("source")
@master_option("target")
@folder_options
@message_options
@click.option("--deep", is_flag=True,
              help="Also compare the sha256 of every message's bytes (reads every body).")
@click.option("--all-mail", type=click.Choice(["unfiled", "copy"]), default="unfiled",
              show_default=True,
              help="A Gmail-style \\All folder: expect only the messages no other folder "
                   "holds (what `copy` brings by default), or all of them (`copy --all-mail "
                   "copy`). Give the same choice as to `copy`.")
@tls_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the result as a self-contained HTML page.")
def verify(source_url: str | None, target_url: str | None, migration_file: Path | None,
           wave: str | None, names: tuple[str, ...], source_password_file: Path | None,
           target_password_file: Path | None, source_master: str | None,
           target_master: str | None, maps: tuple[str, ...], include: tuple[str, ...],
           exclude: tuple[str, ...], exclude_special: tuple[str, ...], no_automap: bool,
           max_age: float | None, min_age: float | None, max_size: int | None,
           deep: bool, all_mail: str, insecure: bool, allow_plaintext: bool, ca_file: str | None,
           as_json: bool, html_path: Path | None) -> int:
    """Compare every folder in scope: counts, sizes, each message's fingerprint, flags and
    INTERNALDATE (--deep: its sha256). Give the same folder options as to `copy`.
    Exits 1 if anything in scope is missing, extra or different.

    With --project, every selected user of the project (no URLs, no folder options: they
    come from migration.toml); each result is stored for `status` and `report`. Without
    URLs, the project is ./migration.toml."""
    if migration_file is None and source_url is None and DEFAULT_FILE.is_file():
        migration_file = DEFAULT_FILE  # `mailferry verify` in the project's directory
    if migration_file is not None:
        if source_url or target_url or maps or include or exclude or exclude_special \
                or no_automap or source_password_file or target_password_file \
                or source_master or target_master or all_mail != "unfiled":
            raise ConfigError("--project takes no URLs, password files, master users or "
                              "folder options (they come from migration.toml)")
        from .verify_project import verify_project
        return verify_project(migration_file, wave, names, deep=deep, insecure=insecure,
                              as_json=as_json, html_path=html_path)
    if wave is not None or names:
        raise ConfigError("--wave and --user need --project")
    if source_url is None or target_url is None:
        raise ConfigError("usage: mailferry verify SOURCE_URL TARGET_URL, or "
                          "mailferry verify --project migration.toml")
    tls = tls_policy(insecure, allow_plaintext, ca_file)
    source = make_account("source", source_url, source_password_file, tls,
                          master=source_master)
    target = make_account("target", target_url, target_password_file, tls,
                          master=target_master)
    filters = folder_filters(maps, include, exclude, exclude_special, no_automap,
                           message_filter(max_age, min_age, max_size))
    report = verify_mailbox(source, target, filters=filters, deep=deep,
                            all_mail=all_mail)
    if html_path is not None:
        html_path.write_text(render_page(report), encoding="utf-8")
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report, make_console())
    return report.exit_status


def print_report(report: VerifyReport, console: Console) -> None:
    table = Table(title=f"Verify {'(deep) ' if report.deep else ''}{report.source} -> "
                  f"{report.target}")
    for column in ("source folder", "target folder", "status"):
        table.add_column(column)
    for column in ("src msgs", "tgt msgs", "src bytes", "tgt bytes", "differences"):
        table.add_column(column, justify="right")
    for f in report.folders:
        table.add_row(f.source, f.target, f.status, str(f.source_messages),
                      str(f.target_messages), str(f.source_bytes), str(f.target_bytes),
                      str(f.differences))
    console.print(table)
    for f in report.folders:
        if f.filed_elsewhere:
            console.print(f"{f.source}: {f.filed_elsewhere} message(s) also in other folders, "
                          "not expected here (--all-mail unfiled, as copy's default)")
    for excluded in report.excluded:
        console.print(f"excluded: {excluded.folder} ({excluded.reason})")
    for d in report.differences:
        mid = d.message_id or "(no Message-ID)"
        console.print(line(styled(d.kind, "red"), f" {d.folder} source UID "
                           f"{d.source_uid or '-'} target UID {d.target_uid or '-'} {mid}: "
                           f"{d.detail}"),
                      soft_wrap=True)
    console.print("no differences: every message in scope is in the target" if report.ok else
                  f"{len(report.differences)} difference(s): " + ", ".join(
                      f"{kind} {report.count(kind)}" for kind in
                      ("missing", "extra", "different", "folder-missing") if report.count(kind)))
