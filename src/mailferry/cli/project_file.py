"""One way to name the project file on every command: `-p/--project FILE`, default
./migration.toml when it is there (or $MAILFERRY_PROJECT).

Older releases took the file as a positional argument on some commands (`sync FILE`,
`status FILE`); that spelling still works where it did, and is deprecated in --help.
Naming the project is also where the run's log file starts (see runlog).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mailferry.errors import ConfigError

from . import runlog

DEFAULT_FILE = Path("migration.toml")
ENV = "MAILFERRY_PROJECT"
_FILE = click.Path(dir_okay=False, path_type=Path)


def resolve_project(given: Path | None) -> Path:
    """The project file a command reads: the one given, else ./migration.toml."""
    if given is not None:
        return given
    if not DEFAULT_FILE.exists():
        raise ConfigError("no project here: run this where migration.toml is, name it with "
                          "-p FILE, or write one with `mailferry init`",
                          where=str(DEFAULT_FILE))
    return DEFAULT_FILE


def project_file_option(*, help_text: str = "The project file (default ./migration.toml)."
                        ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`-p/--project FILE` (into the parameter `migration_file`, None when not given) for
    commands whose project is optional (verify/backup take URLs without one)."""
    return click.option("-p", "--project", "migration_file", type=_FILE, default=None,
                        envvar=ENV, metavar="FILE", help=help_text)


def project_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """The project file of a command that always reads one, as `migration_file`, resolved
    (given or ./migration.toml); the run's log file is started under it."""

    @functools.wraps(command)
    def wrapper(*args: Any, project_file: Path | None, legacy_file: Path | None,
                no_log: bool, **kwargs: Any) -> Any:
        if project_file is not None and legacy_file is not None and project_file != legacy_file:
            raise click.UsageError(f"two project files: {project_file} and {legacy_file}")
        path = resolve_project(project_file or legacy_file)
        runlog.start(path, enabled=not no_log)
        return command(*args, migration_file=path, **kwargs)

    setattr(wrapper, runlog.STARTS_LOG, True)
    wrapper = click.option("--no-log", is_flag=True,
                           help="Write no log file under the project's logs/ for this run.",
                           )(wrapper)
    wrapper = click.argument("legacy_file", required=False, type=_FILE,
                             metavar="[MIGRATION_FILE]")(wrapper)
    return click.option("-p", "--project", "project_file", type=_FILE, default=None,
                        envvar=ENV, metavar="FILE",
                        help="The project file (default ./migration.toml). Giving it as "
                             "an argument, as older releases did, still works: deprecated."
                        )(wrapper)
