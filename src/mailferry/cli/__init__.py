"""The command line: parse, call, print. One module per command; each is imported only
when its command runs, so `mailferry copy` does not pay for the DNS or SMTP libraries.

Exit status: 0 all done, 1 finished with failures listed in the report, 2 bad usage/input.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

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
}


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


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mailferry")
def cli() -> None:
    """Move an organisation's email from one provider to another, losing nothing."""


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="mailferry", standalone_mode=True)
    except (ConfigError, ConnectError) as exc:  # bad input, or a server that won't let us in
        click.echo(f"mailferry: error: {exc}", err=True)
        sys.exit(2)
    except MailferryError as exc:
        click.echo(f"mailferry: error: {exc}", err=True)
        sys.exit(1)
