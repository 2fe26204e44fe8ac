"""`verify --project` and `backup --project`: the per-mailbox commands over a project's
selected users (`--wave`, `--user`), with the accounts `sync` builds. Exit 0 when every
mailbox is verified (backed up), 1 otherwise, 2 for bad input."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from mailferry.backup import Codec
from mailferry.batch import (
    AccountFactory,
    UserBackup,
    UserVerify,
    backup_users,
    select_mailboxes,
    verify_users,
)
from mailferry.errors import ConfigError
from mailferry.imap import TlsPolicy
from mailferry.report import render_pages
from mailferry.store import ProjectState

from .output import line, make_console, print_json, styled
from .project_cmd import load_project

SHOWN_DIFFERENCES = 20  # per user in the table output; --json and --html list them all


def verify_project(migration_file: Path, wave: str | None, names: tuple[str, ...], *,
                   deep: bool, insecure: bool, as_json: bool, html_path: Path | None) -> int:
    settings, users = load_project(migration_file)
    selected = select_mailboxes(users, wave=wave, names=names)
    factory = AccountFactory(settings, TlsPolicy(verify=not insecure))
    if settings.sync.store is None and not settings.sync.state.parent.exists():
        raise ConfigError(f"directory {settings.sync.state.parent} does not exist",
                          where=f"{settings.path} [sync] state")
    errors = make_console(stderr=True)

    def done(result: UserVerify) -> None:
        errors.print(f"{result.user.source_user}: {result.status}"
                     + (f" ({len(result.report.differences)} differences)"
                        if result.report and not result.ok else "")
                     + (f": {result.error}" if result.error else ""),
                     markup=False, highlight=False)

    with ProjectState.open(settings.state_location()) as state:
        results = verify_users(settings, selected, factory, state, deep=deep, done=done)
    if html_path is not None:
        try:
            html_path.write_text(render_pages(
                [(r.user.source_user, r.report, r.error) for r in results]), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror}", where=str(html_path)) from None
    ok = all(r.ok for r in results)
    if as_json:
        print_json({"ok": ok, "deep": deep, "users": {
            r.user.source_user: {"status": r.status, "error": r.error,
                                 **({"report": r.report.to_json()} if r.report else {})}
            for r in results}})
    else:
        _print_verify_table(results, make_console())
    return 0 if ok else 1


def _print_verify_table(results: list[UserVerify], console: Console) -> None:
    table = Table(title="Verify")
    for column in ("user", "wave", "status"):
        table.add_column(column)
    for column in ("folders", "src msgs", "tgt msgs", "differences"):
        table.add_column(column, justify="right")
    for r in results:
        report = r.report
        style = "green" if r.ok else "bold red"
        table.add_row(r.user.source_user, r.user.wave or "-",
                      styled(r.status, style),
                      str(len(report.folders)) if report else "-",
                      str(sum(f.source_messages for f in report.folders)) if report else "-",
                      str(sum(f.target_messages for f in report.folders)) if report else "-",
                      str(len(report.differences)) if report else "-")
    console.print(table)
    for r in results:
        if r.error:
            console.print(f"{r.user.source_user}: could not verify: {r.error}",
                          soft_wrap=True)
        if r.report is None:
            continue
        for d in r.report.differences[:SHOWN_DIFFERENCES]:
            mid = d.message_id or "(no Message-ID)"
            console.print(line(f"{r.user.source_user}: ", styled(d.kind, "red"),
                               f" {d.folder} source UID {d.source_uid or '-'} target UID "
                               f"{d.target_uid or '-'} {mid}: {d.detail}"), soft_wrap=True)
        hidden = len(r.report.differences) - SHOWN_DIFFERENCES
        if hidden > 0:
            console.print(f"{r.user.source_user}: ... and {hidden} more (--json lists "
                          "them all)")
    clean = sum(1 for r in results if r.ok)
    console.print(f"{clean} of {len(results)} mailboxes verified")


def backup_project(migration_file: Path, wave: str | None, names: tuple[str, ...],
                   root: Path, codec: Codec, *, insecure: bool, as_json: bool) -> int:
    settings, users = load_project(migration_file)
    selected = select_mailboxes(users, wave=wave, names=names)
    factory = AccountFactory(settings, TlsPolicy(verify=not insecure))
    errors = make_console(stderr=True)

    def done(result: UserBackup) -> None:
        s = result.summary
        note = (f"{s.total('fetched')} new, {s.total('total')} in {s.directory}" if s
                else f"failed: {result.error}")
        errors.print(f"{result.user.source_user}: {note}", markup=False, highlight=False)

    root.mkdir(parents=True, exist_ok=True)
    results = backup_users(selected, factory, root, codec, done=done)
    ok = all(r.summary is not None for r in results)
    if as_json:
        print_json({"ok": ok, "directory": str(root), "users": {
            r.user.source_user: {"ok": r.summary is not None, "error": r.error,
                                 **({"backup": r.summary.to_json()} if r.summary else {})}
            for r in results}})
    else:
        console = make_console()
        table = Table(title=f"Backup into {root}")
        for column in ("user", "directory"):
            table.add_column(column)
        for column in ("folders", "new", "messages", "bytes"):
            table.add_column(column, justify="right")
        for r in results:
            s = r.summary
            if s is None:
                table.add_row(r.user.source_user, styled(f"failed: {r.error or ''}",
                                                          "bold red"), "-", "-", "-", "-")
            else:
                table.add_row(r.user.source_user, s.directory,
                              str(len(s.folders)), str(s.total("fetched")),
                              str(s.total("total")), str(s.total("bytes")))
        console.print(table)
    return 0 if ok else 1
