"""`mailferry dedupe`: remove duplicate messages from the project's target mailboxes (the
clean-up after a copy by other tools, or a run that overlapped one). A dry run by default;
`--apply` removes, and needs `--backup DIR` (the mailbox's backup there is brought up to
date and must hold every message removed) or an explicit `--no-backup`. The source is
never contacted. Exit 0 all done, 1 a mailbox failed or was busy, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from mailferry.batch import AccountFactory, DedupeRun, UserDedupe, dedupe_users, select_mailboxes
from mailferry.errors import ConfigError
from mailferry.imap import TlsPolicy
from mailferry.store import StateStore

from .output import line, make_console, print_json, styled
from .project_cmd import load_project, mailbox_selection, project_argument


@click.command()
@project_argument
@mailbox_selection
@click.option("--apply", is_flag=True,
              help="Remove the duplicates (default: only say what would be removed).")
@click.option("--backup", "backup_root", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="With --apply: bring each mailbox's backup in DIR up to date "
              "first (DIR/<user@host>/, as `mailferry backup` writes it) and remove only "
              "what it holds.")
@click.option("--no-backup", is_flag=True,
              help="With --apply: remove without a backup (not advised).")
@click.option("--wait", "wait_for_lease", is_flag=True,
              help="A mailbox another run is writing: wait for it instead of skipping it.")
@click.option("--insecure", is_flag=True, help="Don't verify TLS certificates (not advised).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def dedupe(migration_file: Path, wave: str | None, names: tuple[str, ...], apply: bool,
           backup_root: Path | None, no_backup: bool, wait_for_lease: bool, insecure: bool,
           as_json: bool) -> int:
    """Find duplicate messages in the target mailboxes (same folder, same fingerprint, same
    bytes) and, with --apply, keep the oldest of each with the flags of all."""
    if apply and backup_root is None and not no_backup:
        raise ConfigError("refusing to remove mail without a backup: give --backup DIR, or "
                          "--no-backup to go without one", where="--apply")
    if (backup_root is not None or no_backup) and not apply:
        raise ConfigError("--backup and --no-backup go with --apply (a dry run changes "
                          "nothing)", where="--backup" if backup_root else "--no-backup")
    if backup_root is not None and no_backup:
        raise ConfigError("either --backup DIR or --no-backup", where="--no-backup")
    settings, users = load_project(migration_file)
    selected = select_mailboxes(users, wave=wave, names=names)
    factory = AccountFactory(settings, TlsPolicy(verify=not insecure))
    console = make_console()
    errors = make_console(stderr=True)
    store = StateStore.open(settings.state_location())
    try:
        results = dedupe_users(settings, selected, factory, store,
                               DedupeRun(apply, backup_root, wait_for_lease),
                               done=None if as_json else lambda r: _print(r, console),
                               waiting=lambda busy: errors.print(
                                   f"{busy}: waiting for it (--wait)", markup=False,
                                   highlight=False, soft_wrap=True))
    finally:
        store.close()
    failed = sum(1 for r in results if r.error)
    if as_json:
        print_json({"dry_run": not apply, "ok": not failed,
                    "mailboxes": {r.user.source_user: r.to_json() for r in results}})
        return 1 if failed else 0
    if apply:
        console.print(f"{sum(r.removed for r in results)} duplicates removed from "
                      f"{len(results) - failed} mailboxes")
    else:
        console.print(f"dry run: {sum(r.to_remove for r in results)} duplicates found; "
                      "nothing was changed (--apply --backup DIR removes them)")
    if failed:
        errors.print(f"{failed} mailboxes not deduplicated (see above)")
    return 1 if failed else 0


def _print(result: UserDedupe, console: Console) -> None:
    name = styled(result.user.source_user, "bold")
    if result.error:
        console.print(line(name, ": ", styled("not deduplicated: ", "red"), result.error))
        return
    verb = "removed" if result.applied else "would remove"
    count = result.removed if result.applied else result.to_remove
    console.print(line(name, f": {verb} {count} duplicates"))
    for folder in result.folders:
        if folder.note:
            console.print(line("  ", folder.folder.display, ": ", styled(folder.note, "yellow")))
        for found in folder.sets:
            console.print(line(
                "  ", folder.folder.display, f": keep UID {found.keep}, remove UID ",
                ", ".join(str(uid) for uid in found.remove), ": ",
                found.subject or "(no subject)", f" {found.message_id or ''}".rstrip()))
