"""The command line: parse, call, print. One module per command; each is imported only
when its command runs, so `mailferry copy` does not pay for the DNS or SMTP libraries.

Exit status: 0 all done, 1 finished with failures listed in the report, 2 bad usage/input.
Every command returns its status; `main` alone turns it into the process's exit, and it
alone prints errors that end a command, in one format: `mailferry: error: <where>: <what>`
(`where` is the file:line, option, URL or server, else the command).
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import click
from click.exceptions import NoArgsIsHelpError

from mailferry import __version__
from mailferry.errors import ConfigError, ConnectError, MailferryError

# command name -> "module:attribute" below mailferry.cli
COMMANDS: dict[str, str] = {
    "copy": "copy_cmd:copy",
    "relay": "relay_cmd:relay",
    "init": "init_cmd:init",
    "check": "check_cmd:check",
    "plan": "plan_cmd:plan",
    "verify": "verify_cmd:verify",
    "backup": "backup_cmd:backup",
    "restore": "backup_cmd:restore",
    "import": "backup_cmd:import_group",
    "waves": "project_cmd:waves",
    "sync": "sync_cmd:sync",
    "status": "project_cmd:status",
    "report": "project_cmd:report",
    "monitor": "monitor_cmd:monitor",
    "deliverability": "monitor_cmd:deliverability",
    "dmarc": "monitor_cmd:dmarc",
    "notify": "notify_cmd:notify",
    "autoconfig": "autoconfig_cmd:autoconfig",
    "serve": "serve_cmd:serve",
}
USAGE = 2  # bad usage or input: nothing was done


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"mailferry.cli.{module_name}")
        command: click.Command = getattr(module, attr)
        return command

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
    """Move an organisation's email from one provider to another, losing nothing."""


def _error(message: str, status: int) -> int:
    click.echo(f"mailferry: error: {message}", err=True)
    return status


def _usage_place(error: click.UsageError) -> str:
    path = error.ctx.command_path if error.ctx is not None else ""
    return path.partition(" ")[2] or "command line"  # "mailferry import mbox" -> "import mbox"


def run(argv: list[str] | None = None) -> int:
    """Run a command line; its exit status (0, 1 or 2), errors already printed."""
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
    """The console script: the one place an exit status becomes the process's exit."""
    sys.exit(run(argv))
