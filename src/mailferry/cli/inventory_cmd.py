"""`mailferry inventory`: count what each source mailbox holds (folders, messages, bytes)
before anything is copied, so waves can be sized; kept in the project state for `waves`,
`status` and the report. Reads the source only. Exit 0 when every selected mailbox was
counted, 1 when one could not be (its error said), 2 for bad input.
"""

from __future__ import annotations

from pathlib import Path

import click

from mailferry.batch import AccountFactory, inventory_users, select_mailboxes
from mailferry.imap import TlsPolicy
from mailferry.report import build_report, count, human_bytes
from mailferry.store import MailboxInventory, ProjectState

from .output import Column, line, make_console, print_json, print_rows, styled
from .project_cmd import load_project, mailbox_selection, project_argument


@click.command()
@project_argument
@mailbox_selection
@click.option("--mailboxes", type=click.IntRange(1, 256), default=None,
              help="Mailboxes counted at once (default [sync] mailboxes; capped by the "
                   "source's max_connections).")
@click.option("--insecure", is_flag=True, help="Don't verify TLS certificates (not advised).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def inventory(migration_file: Path, wave: str | None, names: tuple[str, ...],
              mailboxes: int | None, insecure: bool, as_json: bool) -> int:
    """Count each source mailbox's folders, messages and bytes, before any copy (to size the
    waves); `waves`, `status` and the report show the counts."""
    settings, users = load_project(migration_file)
    selected = select_mailboxes(users, wave=wave, names=names)
    factory = AccountFactory(settings, TlsPolicy(verify=not insecure))
    errors = make_console(stderr=True)

    def said(found: MailboxInventory) -> None:
        if found.error:
            errors.print(line(styled(found.source_user, "bold"), ": could not count: ",
                              found.error))
        else:
            errors.print(line(found.source_user, f": {count(found.messages)} messages, "
                              f"{human_bytes(found.bytes)} in {len(found.copied_folders)} "
                              "folders"))

    with ProjectState.open(settings.state_location()) as state:
        found = inventory_users(settings, selected, factory, state,
                                mailboxes=mailboxes or settings.sync.mailboxes, done=said)
    failed = sum(1 for f in found if f.error)
    if as_json:
        print_json({"ok": not failed, "mailboxes": {f.source_user: f.to_json() for f in found}})
        return 1 if failed else 0
    report = build_report(settings.name, selected, {},
                          inventories={f.source_user: f for f in found})
    console = make_console()
    print_rows(console, "Source mailboxes, before the copy",
               [Column("wave"), Column("users", "right"), Column("messages", "right"),
                Column("size", "right")],
               [[w.label, str(len(w.users)), count(sum(i.messages for i in w.counted)),
                 human_bytes(sum(i.bytes for i in w.counted))] for w in report.waves])
    if failed:
        errors.print(f"{failed} of {len(found)} mailboxes could not be counted (see above); "
                     "a re-run counts them again")
    return 1 if failed else 0
