"""`mailferry init`: write a whole project to start from: a commented migration.toml that
every command accepts as it is, a sample users.csv and secrets.csv beside it."""

from __future__ import annotations

import datetime as dt
import os
from importlib.resources import files
from pathlib import Path
from string import Template

import click

# (file written, shipped example, mode): secrets.csv holds passwords, so only its owner reads it
_FILES = (("migration.toml", "migration_example.toml", 0o644),
          ("users.csv", "users_example.csv", 0o644),
          ("secrets.csv", "secrets_example.csv", 0o600))


def example_project(today: dt.date) -> str:
    """The example migration.toml, dated from `today`: a cutover six weeks ahead leaves
    room for the notice, the pilot and the waves, so `plan` finds it feasible."""
    cutover = dt.datetime.combine(today + dt.timedelta(weeks=6), dt.time(20, 0))
    old_accounts_end = cutover.date() + dt.timedelta(days=30)
    text = files("mailferry.project").joinpath("migration_example.toml").read_text("utf-8")
    return Template(text).substitute(cutover=cutover.isoformat(),
                                     expiry=old_accounts_end.isoformat(),
                                     decommission=old_accounts_end.isoformat())


@click.command()
@click.argument("path", type=click.Path(path_type=Path), default="migration.toml")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(path: Path, force: bool) -> int:
    """Write a complete, commented project: PATH (migration.toml, or a directory to hold
    it) with users.csv and secrets.csv beside it. Every command accepts it as it is."""
    toml = path / "migration.toml" if path.is_dir() or path.suffix != ".toml" else path
    targets = [(toml.with_name(name) if name != "migration.toml" else toml, source, mode)
               for name, source, mode in _FILES]
    existing = [str(t) for t, _, _ in targets if t.exists()]
    if existing and not force:  # nothing is written unless everything can be
        raise click.UsageError(f"{', '.join(existing)}: already there; use --force to "
                               "overwrite")
    toml.parent.mkdir(parents=True, exist_ok=True)
    for target, source, mode in targets:
        text = (example_project(dt.date.today()) if target == toml else
                files("mailferry.project").joinpath(source).read_text("utf-8"))
        target.unlink(missing_ok=True)  # a new file gets `mode` (secrets: never world-readable)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    then = "mailferry check" if toml == Path("migration.toml") else (
        f"cd {toml.parent} && mailferry check" if toml.name == "migration.toml"
        else f"mailferry check -p {toml}")
    click.echo(f"wrote {', '.join(str(t) for t, _, _ in targets)}\n"
               f"edit them (servers, domains, users), then run `{then}`")
    return 0
