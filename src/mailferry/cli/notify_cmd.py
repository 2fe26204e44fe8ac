"""`mailferry notify`: the notices due today to each selected user, sent through
[notify] smtp (or, with --preview DIR, written there and not sent); `--letters DIR` writes
the credentials letters; `--list` shows who was notified of what and when."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from mailferry.notify import (
    NoticeOutcome,
    NotifyProject,
    NotifyResult,
    Renderer,
    due,
    journal_records,
    select_users,
    send,
    submitter_for,
    today_in,
    write_letters,
    write_preview,
)

from .output import Column, make_console, print_json, print_rows
from .project_cmd import project_argument


@click.command()
@project_argument
@click.option("--preview", "preview_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write what every user would get (DIR/USER.KIND.eml and "
                                 ".html) and send nothing.")
@click.option("--letters", "letters_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write one printable credentials letter per user to DIR "
                                 "([notify] credentials = \"letter\"); sends nothing.")
@click.option("--user", "names", multiple=True, help="Only this user (repeatable).")
@click.option("--wave", "waves", multiple=True, help="Only this wave (repeatable).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Work out the due notices as of this day (with --preview: what goes out "
                   "when).")
@click.option("--list", "show_list", is_flag=True, help="Who was notified of what, and when.")
@click.option("--json", "as_json", is_flag=True)
def notify(migration_file: Path, preview_dir: Path | None, letters_dir: Path | None,
           names: tuple[str, ...], waves: tuple[str, ...], today: dt.datetime | None,
           show_list: bool, as_json: bool) -> int:
    """Tell users what happens to their mailbox, and when."""
    project = NotifyProject.load(migration_file)
    if show_list:
        _print_journal(project, names, as_json)
        return 0
    renderer = Renderer(project)
    users = select_users(project, names, waves)
    console = make_console(stderr=True)
    if letters_dir is not None:
        written = write_letters(project, renderer, users, letters_dir)
        console.print(f"{len(written)} credentials letters in {letters_dir} (readable by you "
                      "only: print them, hand them over, then delete them)")
        return 0
    day = today.date() if today else today_in(project)
    notices = due(project, renderer, users, day)
    if preview_dir is not None:
        result = write_preview(notices, renderer.sender, preview_dir, dt.datetime.now(dt.UTC))
        console.print(f"{len(notices)} notices due on {day} written to {preview_dir}; "
                      "nothing sent")
    elif not notices:
        result = NotifyResult()
        console.print(f"no notice due on {day}")
    else:
        def shown(outcome: NoticeOutcome) -> None:
            if not as_json:
                mark = "sent" if outcome.status == "sent" else f"FAILED: {outcome.error}"
                console.print(f"{outcome.kind:<13} {outcome.recipient}: {mark}",
                              markup=False, highlight=False)

        result = send(project, notices, renderer.sender, submitter_for(project),
                      progress=shown)
    if as_json:
        print_json({"day": day.isoformat(), "notices": [o.__dict__ for o in result.outcomes],
                    "failed": len(result.failed)})
    return 1 if result.failed else 0


def _print_journal(project: NotifyProject, names: tuple[str, ...], as_json: bool) -> None:
    records = [r for r in journal_records(project) if not names or r.source_user in names]
    if as_json:
        print_json({"notices": [{**r.__dict__, "state": str(r.state)} for r in records]})
        return
    zone = project.migration.timezone
    print_rows(make_console(), f"Notices: {project.migration.name}",
               [Column("user"), Column("notice"), Column("about"), Column("to"),
                Column("state"), Column("when"), Column("error", wrap=True)],
               [[r.source_user, r.kind, r.about[:16] or "-", r.recipient, str(r.state),
                 dt.datetime.fromtimestamp(r.sent_at or r.updated_at, zone).strftime(
                     "%Y-%m-%d %H:%M %Z"), r.error or ""] for r in records])
