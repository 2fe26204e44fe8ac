"""`mailferry store migrate`: move a project's state file into the PostgreSQL store that
many machines share (store/transfer.py says how a kill midway stays safe)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mailferry.errors import ConfigError, StateError
from mailferry.project import load
from mailferry.store import copy_state, describe_location, parse_location

from .output import make_console, print_json

PASSWORD_ENV = "MAILFERRY_STORE_PASSWORD"


@click.group()
def store() -> None:
    """The state store: move it to PostgreSQL (the schema upgrades itself on open)."""


@store.command()
@click.argument("migration_file", type=click.Path(dir_okay=False, path_type=Path),
                default="migration.toml")
@click.option("--to", "target", required=True, metavar="URL",
              help="postgresql://user@host:port/database (password from "
                   f"{PASSWORD_ENV}, --to-password-file, or libpq's PGPASSWORD/~/.pgpass).")
@click.option("--to-password-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A file whose first line is the database password.")
@click.option("--from", "source", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The state file (default: the project's [sync] state).")
@click.option("--replace", is_flag=True,
              help="Empty a target that already holds a state, then copy.")
@click.option("--json", "as_json", is_flag=True)
def migrate(migration_file: Path, target: str, to_password_file: Path | None,
            source: Path | None, replace: bool, as_json: bool) -> int:
    """Copy the project's SQLite state into PostgreSQL, then set `[sync] store` to it."""
    if source is None:
        settings = load(migration_file).sync
        if settings.sync.store is not None:
            raise ConfigError("[sync] store already names a database; give --from STATE_FILE",
                              where=str(migration_file))
        source = settings.sync.state
    try:
        location = parse_location(target)
    except StateError as exc:  # said as a usage error (the message never shows a password)
        raise ConfigError(str(exc), where="--to") from None
    if isinstance(location, Path):
        raise ConfigError("write postgresql://user@host:port/database", where="--to")
    if location.password is not None:
        raise ConfigError("no password in the URL (it would show in process listings): "
                          f"use {PASSWORD_ENV} or --to-password-file", where="--to")
    password = _password(to_password_file)
    if password is not None:
        location = location.set(password=password)
    try:
        result = copy_state(source, location, replace=replace)
    except StateError as exc:  # nothing was used: a refusal, an unreachable database
        raise ConfigError(str(exc), where="store migrate") from None
    if as_json:
        print_json({"from": str(source), "to": describe_location(location),
                    "rows": result.rows, "resumed": result.resumed})
        return 0
    console = make_console(stderr=True)
    total = sum(result.rows.values())
    console.print(f"copied {total} rows of {source} into {describe_location(location)}"
                  + (" (finished an interrupted migrate)" if result.resumed else ""))
    console.print(f"now set [sync] store = \"{describe_location(location)}\" in "
                  f"{migration_file}")
    return 0


def _password(password_file: Path | None) -> str | None:
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}",
                              where=f"--to-password-file {password_file}") from None
        if not lines or not lines[0].strip():
            raise ConfigError("empty", where=f"--to-password-file {password_file}")
        return lines[0].strip()
    return os.environ.get(PASSWORD_ENV) or None
