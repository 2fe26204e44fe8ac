"""`mailferry autoconfig [DIR]` writes the client set-up files; `mailferry autoconfig
serve` answers the well-known URLs (127.0.0.1 by default)."""

from __future__ import annotations

from pathlib import Path

import click

from .project_cmd import project_argument

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group(invoke_without_command=True)
@click.option("-p", "--project", "migration_file", type=_FILE, default="migration.toml",
              show_default=True, help="The migration file.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("autoconfig"), show_default=True,
              help="Where to write the files.")
@click.pass_context
def autoconfig(ctx: click.Context, migration_file: Path, out_dir: Path) -> None:
    """Mail client set-up from [target]: Mozilla autoconfig, Microsoft Autodiscover, Apple
    profiles (files; or `serve` them)."""
    if ctx.invoked_subcommand is not None:
        return
    from mailferry.autoconfig import Site

    written = Site.load(migration_file).write(out_dir)
    click.echo(f"{len(written)} files in {out_dir}: mail/config-v1.1.xml (and under "
               ".well-known/), autodiscover/ADDRESS.xml, mobileconfig/ADDRESS.mobileconfig")


@autoconfig.command()
@project_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--certfile", type=_FILE, default=None, help="Serve HTTPS with this cert.")
@click.option("--keyfile", type=_FILE, default=None)
def serve(migration_file: Path, host: str, port: int, certfile: Path | None,
          keyfile: Path | None) -> None:
    """Answer /mail/config-v1.1.xml, /.well-known/autoconfig/mail/config-v1.1.xml, POST
    /autodiscover/autodiscover.xml and /mobileconfig/ADDRESS."""
    from mailferry.autoconfig import Site
    from mailferry.autoconfig import serve as run

    site = Site.load(migration_file)
    click.echo(f"autoconfig for {', '.join(site.settings.domains)} on "
               f"{'https' if certfile else 'http'}://{host}:{port}/", err=True)
    run(site, host=host, port=port, certfile=certfile, keyfile=keyfile)
