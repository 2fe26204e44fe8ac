"""A log file per run under the project: <project>/logs/YYYY-MM-DD-HHMMSS-<command>.log.

Like imapsync's per-run logs: the command line (URL passwords and the project's secrets
masked), everything the `mailferry.*` loggers say at INFO and above (a mailbox or folder
that failed, in the server's words) and the error that ended the run with its exit status.
Off with `--no-log`, or `[logs] enabled = false` in migration.toml (`dir` moves it).

Started when a command names its project (project_file), or for commands without one when
./migration.toml is there; at most one per process.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import logging
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from mailferry import __version__
from mailferry.redact import mask_url

_HIDDEN = "***"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RUN_LOGGER = "mailferry.run"  # the log's own lines: command line, final error, exit status


class _Masked(logging.Filter):
    """Every URL password and every known secret replaced by ***, whatever logged it."""

    def __init__(self, secrets: set[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info),
                                   self.secrets)
            record.exc_info = None
        return True


class _LastResort(logging.Handler):
    """Python prints warnings of a program without log handlers on stderr; our file handler
    would silence that (handlers found), so this keeps doing it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == RUN_LOGGER:  # the log's own lines: the user saw them already
            return
        if not logging.getLogger().handlers and logging.lastResort is not None:
            logging.lastResort.handle(record)


class RunLog:
    def __init__(self, path: Path, stream: IO[str], secrets: set[str]) -> None:
        self.path = path
        self.stream = stream
        self.handler = logging.StreamHandler(stream)
        self.handler.setFormatter(logging.Formatter(_FORMAT))
        self.handler.setLevel(logging.INFO)
        self.handler.addFilter(_Masked(secrets))
        self.last_resort = _LastResort()
        self.secrets = secrets
        self.logger = logging.getLogger(RUN_LOGGER)

    def attach(self) -> None:
        package = logging.getLogger("mailferry")
        package.addHandler(self.handler)
        package.addHandler(self.last_resort)
        # the log's own lines go to the file alone, whatever the command configures
        self.logger.addHandler(self.handler)
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        root = logging.getLogger()
        if root.level == logging.WARNING:  # Python's default: let INFO reach the file
            root.setLevel(logging.INFO)

    def close(self, status: int) -> None:
        self.logger.info("exit status %d", status)
        package = logging.getLogger("mailferry")
        package.removeHandler(self.handler)
        package.removeHandler(self.last_resort)
        self.logger.removeHandler(self.handler)
        self.logger.propagate = True
        self.stream.close()


_current: RunLog | None = None
_argv: list[str] = []
STARTS_LOG = "_mailferry_starts_log"  # set on callbacks that start the log themselves


def mask(text: str, secrets: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """`text` with URL passwords and the given secrets replaced by ***."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    return " ".join(mask_url(word) if "://" in word else word for word in text.split(" "))


def current() -> Path | None:
    """The log file of this run, if one is being written."""
    return _current.path if _current is not None else None


def start(project: Path, *, enabled: bool = True) -> Path | None:
    """Open the run's log under `project`'s directory (once per process); None when off or
    when it cannot be written (said once on stderr: the run goes on)."""
    global _current
    if _current is not None or not enabled or os.environ.get("MAILFERRY_NO_LOG"):
        return None
    if not project.is_file():
        return None
    settings = _settings(project)
    if not settings.get("enabled", True):
        return None
    ctx = click.get_current_context(silent=True)
    command = ctx.command_path.partition(" ")[2] if ctx is not None else ""
    name = "-".join(command.split()) or "mailferry"
    directory = project.parent / str(settings.get("dir", "logs"))
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for n in range(1, 100):  # two runs in one second each get their own file
            path = directory / (f"{stamp}-{name}.log" if n == 1 else f"{stamp}-{name}-{n}.log")
            try:
                stream = path.open("x", encoding="utf-8")
                break
            except FileExistsError:
                continue
        else:
            return None
    except OSError as exc:
        click.echo(f"mailferry: note: no log file for this run: {directory}: "
                   f"{exc.strerror}", err=True)
        return None
    secrets = _secrets(project, settings)
    _current = RunLog(path, stream, secrets)
    _current.attach()
    words = [mask(arg, secrets) for arg in _argv]
    _current.logger.info("mailferry %s: %s", __version__, " ".join(["mailferry", *words]))
    _current.logger.info("project %s, working directory %s", project.resolve(), os.getcwd())
    return path


def begin(argv: list[str] | None) -> None:
    """The command line of this run, for the log's first line."""
    global _argv
    _argv = list(sys.argv[1:] if argv is None else argv)


def logged(callback: Callable[..., Any]) -> Callable[..., Any]:
    """A command's callback that starts the run's log first: under the project it names
    (`migration_file`), else under ./migration.toml's."""
    if getattr(callback, STARTS_LOG, False):
        return callback

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        project = kwargs.get("migration_file")
        if isinstance(project, Path):
            start(project)
        else:
            start_here()
        return callback(*args, **kwargs)

    setattr(run, STARTS_LOG, True)
    return run


def start_here() -> Path | None:
    """For a command without a project option: the log goes under ./migration.toml's
    project when there is one."""
    here = Path("migration.toml")
    return start(here) if here.is_file() else None


def error(message: str) -> None:
    """The error that ends the run, as the user saw it."""
    if _current is not None:
        _current.logger.error("%s", message)


def finish(status: int) -> None:
    global _current
    if _current is not None:
        _current.close(status)
        _current = None


def _settings(project: Path) -> dict[str, object]:
    """[logs] of the project, read leniently: the command's own loading reports a broken
    file, the log must not fail first."""
    try:
        data = tomllib.loads(project.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    logs = data.get("logs")
    out: dict[str, object] = dict(logs) if isinstance(logs, dict) else {}
    users = data.get("users")
    if isinstance(users, dict) and isinstance(users.get("secrets"), str):
        out["_secrets"] = users["secrets"]
    return out


def _secrets(project: Path, settings: dict[str, object]) -> set[str]:
    """The passwords of the project's secrets.csv, so that no log line can carry one even if
    a server echoed it back."""
    name = settings.get("_secrets")
    if not isinstance(name, str):
        return set()
    try:
        with (project.parent / name).open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return set()
    return {value for row in rows for key, value in row.items()
            if key and key != "user" and isinstance(value, str) and len(value) >= 3}
