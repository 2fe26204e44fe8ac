"""The command line: parse, call, print. One module per command; each is imported only
when its command runs, so `mailferry copy` does not pay for the DNS or SMTP libraries.

Exit status: 0 all done, 1 finished with failures listed in the report, 2 bad usage/input.
Every command returns its status; `main` alone turns it into the process's exit (`console`,
the installed script, is `main` and a quicker end), and it alone prints errors that end a
command, in one format: `mailferry: error: <where>: <what>` (`where` is the file:line,
option, URL or server, else the command).
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import NoReturn

import click
from click.exceptions import NoArgsIsHelpError

from mailferry import __version__
from mailferry.errors import ConfigError, ConnectError, MailferryError

from . import runlog

__all__ = ["COMMANDS", "USAGE", "cli", "console", "main", "run"]

# command name -> ("module:attribute" below mailferry.cli, where it belongs in a migration);
# `--help` lists them in this order, under these headings
COMMANDS: dict[str, str] = {
    "init": "init_cmd:init",
    "check": "check_cmd:check",
    "plan": "plan_cmd:plan",
    "inventory": "inventory_cmd:inventory",
    "waves": "project_cmd:waves",
    "notify": "notify_cmd:notify",
    "autoconfig": "autoconfig_cmd:autoconfig",
    "relay": "relay_cmd:relay",
    "backup": "backup_cmd:backup",
    "sync": "sync_cmd:sync",
    "copy": "copy_cmd:copy",
    "status": "project_cmd:status",
    "verify": "verify_cmd:verify",
    "dedupe": "dedupe_cmd:dedupe",
    "report": "project_cmd:report",
    "serve": "serve_cmd:serve",
    "deliverability": "monitor_cmd:deliverability",
    "monitor": "monitor_cmd:monitor",
    "dmarc": "monitor_cmd:dmarc",
    "restore": "backup_cmd:restore",
    "import": "backup_cmd:import_group",
    "completion": "completion_cmd:completion",
    "store": "store_cmd:store",
    "worker": "worker_cmd:worker",
}
# `mailferry --help`: the commands under the stage of a migration where they are used, in
# that order, each in one line (a command's own --help says the rest)
STAGES: dict[str, dict[str, str]] = {
    "Prepare": {
        "init": "Write a complete, commented project to start from",
        "check": "Check domain, DNS and servers for migration hazards",
        "plan": "Write the dated runbook (Markdown, HTML or iCalendar)",
        "inventory": "Count each source mailbox: folders, messages, bytes",
        "waves": "Show the waves of users.csv; draw the pilot",
        "notify": "Tell users what happens to their mailbox, and when",
        "autoconfig": "Mail client set-up files for the new system",
    },
    "Move": {
        "relay": "Dual-delivery SMTP relay: mail to the old and/or new system",
        "backup": "Back up source mailboxes (one, or the project's)",
        "sync": "Copy the project's mailboxes, wave by wave; re-run for deltas",
        "copy": "Copy one mailbox, exactly and incrementally",
        "status": "Where every mailbox stands, per wave and per user",
        "store": "Move the state file into PostgreSQL (store migrate)",
        "worker": "Take mailbox jobs from the task queue (sync --distributed)",
    },
    "Prove": {
        "verify": "Prove copies complete: every message matched",
        "dedupe": "Remove duplicates from target mailboxes (dry run first)",
        "report": "The project's report (terminal, --html page, --json)",
        "serve": "The live dashboard",
        "deliverability": "Test mail to a pilot user on both systems",
    },
    "After the cutover": {
        "monitor": "Watch DNS, mail flow, late mail, relay and DMARC",
        "dmarc": "Read DMARC aggregate reports, before and after the cutover",
        "restore": "Put a backup back into an IMAP server",
        "import": "Put an mbox file or Maildir into an IMAP mailbox",
    },
    "Shell": {
        "completion": "Print the bash or zsh completion script",
    },
}
USAGE = 2  # bad usage or input: nothing was done


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)  # migration order, not alphabetical

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"mailferry.cli.{module_name}")
        command: click.Command = getattr(module, attr)
        if not isinstance(command, click.Group) and command.callback is not None:
            command.callback = runlog.logged(command.callback)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands under the stage of a migration they belong to, in order."""
        for stage, lines in STAGES.items():
            with formatter.section(stage):
                formatter.write_dl(list(lines.items()), col_max=16)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:  # said without a place: the command is the place
            if exc.where is None:
                raise ConfigError(str(exc), where=ctx.invoked_subcommand or "mailferry") from exc
            raise


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailferry")
def cli() -> None:
    """Move an organisation's email from one provider to another, losing nothing.

    Commands that read the project take -p/--project FILE (default ./migration.toml) and
    write a log of the run under the project's logs/ (--no-log: none)."""


def _error(message: str, status: int) -> int:
    click.echo(f"mailferry: error: {message}", err=True)
    runlog.error(f"mailferry: error: {message}")
    return status


def _usage_place(error: click.UsageError) -> str:
    path = error.ctx.command_path if error.ctx is not None else ""
    return path.partition(" ")[2] or "command line"  # "mailferry import mbox" -> "import mbox"


def run(argv: list[str] | None = None) -> int:
    """Run a command line; its exit status (0, 1 or 2), errors already printed (and in the
    run's log file, closed here)."""
    runlog.begin(argv)
    status = 1  # what the log says if something unforeseen escapes
    try:
        status = _run(argv)
        return status
    finally:
        runlog.finish(status)


def _run(argv: list[str] | None) -> int:
    try:
        status = cli.main(args=argv, prog_name="mailferry", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # its message is the whole help page: name the command
        place = exc.ctx.command_path if exc.ctx is not None else "mailferry"
        return _error(f"{_usage_place(exc)}: a command is needed (`{place} --help` lists them)",
                      USAGE)
    except click.UsageError as exc:  # click's own (missing argument, bad value) and ours
        what = " ".join(exc.format_message().split())  # one line, whatever click wrapped
        return _error(f"{_usage_place(exc)}: {what}", USAGE)
    except click.Abort:
        return _error("interrupted", 1)
    except click.ClickException as exc:
        return _error(exc.format_message(), exc.exit_code)
    except (ConfigError, ConnectError) as exc:  # bad input, or a server that won't let us in
        return _error(str(exc), USAGE)
    except MailferryError as exc:
        return _error(str(exc), 1)
    return status if isinstance(status, int) else 0


def main(argv: list[str] | None = None) -> NoReturn:
    """The one place an exit status becomes the process's exit."""
    sys.exit(run(argv))


def console() -> NoReturn:
    """The console script (`mailferry`, `python -m mailferry`): `main` in a process of its
    own, whose objects all go when it ends. The interpreter's last garbage collections walk
    every object still alive: with SQLAlchemy loaded, ~45 ms of each run that had work (a
    tenth of a delta into a 100,000-message folder). Frozen first (gc.freeze), they are
    skipped; the rest of the exit is as ever (atexit handlers, log files flushed and closed,
    objects freed as their last reference goes), but what only a collection would free (a
    reference cycle) is left to the process's end: a file must be closed, not dropped (as
    `run` closes the run's log). Not in `main`, which tests call in their own process."""
    status = run()
    gc.freeze()
    sys.exit(status)
