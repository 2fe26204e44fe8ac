"""`mailferry serve`: the live dashboard of a migration project, until Ctrl-C.

The access token comes from MAILFERRY_DASHBOARD_TOKEN, else from `[dashboard] token` in
the project file (env:NAME or file:PATH), else a new one is made for this run. The address
printed at start carries it once; the browser then keeps a cookie. Binds 127.0.0.1 unless
told otherwise; another address needs TLS (--cert/--key), since the token would otherwise
cross the network in clear text.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from mailferry.errors import ConfigError
from mailferry.project import load, resolve_secret

from .project_cmd import project_argument

TOKEN_ENV = "MAILFERRY_DASHBOARD_TOKEN"


def _token(migration_file: Path) -> tuple[str, str]:
    """(token, where it came from)."""
    from mailferry.web import new_token

    value = os.environ.get(TOKEN_ENV)
    if value:
        return value, TOKEN_ENV
    settings = load(migration_file).sync
    if settings.dashboard_token is not None:
        where = f"{settings.path}: [dashboard] token"
        return resolve_secret(settings.dashboard_token, where=where, base=settings.base), where
    return new_token(), "made for this run"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command()
@project_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port (0: any free port; the address printed says which).")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="TLS certificate (PEM): serve https.")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="TLS private key (PEM) for --cert.")
@click.option("--tick", type=click.FloatRange(0.2, 60), default=2.0, show_default=True,
              help="Seconds between live updates.")
@click.option("--allow-plaintext", is_flag=True,
              help="Serve plain http on a non-loopback address (the token travels in clear).")
def serve(migration_file: Path, host: str, port: int, cert: Path | None, key: Path | None,
          tick: float, allow_plaintext: bool) -> None:
    """Serve the live dashboard of MIGRATION_FILE (read-only; pause/resume a wave)."""
    from mailferry.web import DashboardConfig, create_app

    if (cert is None) != (key is None):
        raise click.UsageError("--cert and --key go together")
    if cert is None and not _loopback(host) and not allow_plaintext:
        raise click.UsageError(f"{host} is not a loopback address: give --cert and --key "
                               "(or --allow-plaintext, and the token travels in clear)")
    token, origin = _token(migration_file)
    try:
        stopping = threading.Event()
        app = create_app(DashboardConfig(migration_file, token, secure=cert is not None,
                                         tick=tick, stopping=stopping))
    except ValueError as exc:
        raise ConfigError(str(exc), where=origin) from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound = listener.getsockname()[1]
    scheme = "https" if cert else "http"
    shown = f"[{host}]" if ":" in host else host
    address = f"{scheme}://{shown}:{bound}/"
    if origin == "made for this run":  # the only way to hand it over: print it once
        click.echo(f"mailferry dashboard: {address}?token={token}")
    else:  # known to whoever set it; kept out of terminals and logs
        click.echo(f"mailferry dashboard: {address}?token=…  (the token from {origin})")
    click.echo("Ctrl-C (or SIGTERM) stops.", err=True)
    sys.stdout.flush()
    # uvicorn's access log would print each address, tokens included: it stays off
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _run(listener, stopping, app=app, ssl_certfile=str(cert) if cert else None,
         ssl_keyfile=str(key) if key else None)


class _Stopped(Exception):
    """Ctrl-C or SIGTERM: the normal end of `serve`."""


def _stopped(sig: int, frame: FrameType | None) -> None:
    raise _Stopped


def _run(listener: socket.socket, stopping: threading.Event, **options: Any) -> None:
    """uvicorn's server, which also tells the live streams to end when asked to stop: they
    would otherwise hold their connections until the graceful timeout cancels them, with a
    traceback on the terminal. Ctrl-C and SIGTERM end it with exit status 0 (uvicorn raises
    the signal again once it has shut down: our handler turns it into a return).
    (uvicorn is imported here: other commands don't need it.)"""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            stopping.set()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2, proxy_headers=False, **options)
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        Server(config).run(sockets=[listener])
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
