"""`mailferry init`: write a commented migration.toml to start from."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path),
                default="migration.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> int:
    """Write a commented example migration.toml to PATH."""
    if path.exists() and not force:
        raise click.UsageError(f"{path} exists; use --force to overwrite it")
    text = files("mailferry.project").joinpath("migration_example.toml").read_text("utf-8")
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}: edit it, then run `mailferry check {path}`")
    return 0
