"""What commands that talk to a mailbox share: passwords, TLS options, folder options."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mailferry.engine import FolderFilters, MessageFilter
from mailferry.errors import ConfigError, ConnectError
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.sizes import parse_size

F = TypeVar("F", bound=Callable[..., Any])


def read_password(side: str, password_file: Path | None) -> str:
    """From --SIDE-password-file, else MAILFERRY_SIDE_PASSWORD; never from the command line."""
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read password file: {exc.strerror}",
                              where=f"--{side}-password-file {password_file}") from None
        password = text.splitlines()[0] if text else ""
        if not password:
            raise ConfigError("password file is empty", where=f"--{side}-password-file "
                              f"{password_file}")
        return password
    variable = f"MAILFERRY_{side.upper()}_PASSWORD"
    from_env = os.environ.get(variable)
    if not from_env:
        raise ConfigError(f"no {side} password: set {variable} or use --{side}-password-file")
    return from_env


def parse_map(values: tuple[str, ...]) -> list[tuple[str, str]]:
    renames = []
    for value in values:
        src, sep, dst = value.partition("=")
        if not sep or not src or not dst:
            raise ConfigError(f"--map {value!r}: expected SOURCE=TARGET folder names")
        renames.append((src.strip("/"), dst.strip("/")))
    return renames


def check_reachable(*accounts: Account) -> None:
    """Log in once on each side before anything is written: a bad host or password is bad
    input (exit 2), not a half-done run."""
    from mailferry.imap import session_for

    for account in accounts:
        try:
            session_for(account, timeout=30).logout()
        except ConnectError as exc:
            raise ConfigError(str(exc)) from None


def _chain(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


def password_option(side: str) -> Callable[[F], F]:
    return click.option(f"--{side}-password-file", type=click.Path(path_type=Path), default=None,
                        help=f"File whose first line is the {side} password.")


def master_option(side: str) -> Callable[[F], F]:
    return click.option(
        f"--{side}-master", metavar="USER", default=None,
        help=f"Log in to the {side} mailbox as this master (admin) user, with its password "
             f"(MAILFERRY_{side.upper()}_PASSWORD or --{side}-password-file): SASL PLAIN "
             "with the URL's user as authorization identity, as Dovecot's master users "
             "take it.")


tls_options = _chain(
    click.option("--insecure", is_flag=True, help="Don't verify TLS certificates (not advised)."),
    click.option("--allow-plaintext", is_flag=True,
                 help="Allow a password over an unencrypted connection to a non-loopback host."),
    click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="Trust only this CA bundle (a private CA), not the system's."),
)

folder_options = _chain(
    click.option("--map", "maps", multiple=True, metavar="SRC=DST",
                 help="Rename a folder (and its subfolders); '/' separates levels."),
    click.option("--include", multiple=True, metavar="GLOB", help="Only folders matching."),
    click.option("--exclude", multiple=True, metavar="GLOB", help="Skip folders matching."),
    click.option("--exclude-special", multiple=True, metavar="USE",
                 help="Skip folders of a special use, e.g. '\\Trash'."),
    click.option("--no-automap", is_flag=True,
                 help="Don't map special-use folders (Sent, Drafts, ...) onto the target's."),
)


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    try:
        return None if value is None else parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


message_options = _chain(
    click.option("--max-age", type=click.FloatRange(0, min_open=True), default=None,
                 metavar="DAYS", help="Only messages that arrived in the last DAYS days "
                 "(by INTERNALDATE); the others are counted as excluded."),
    click.option("--min-age", type=click.FloatRange(0, min_open=True), default=None,
                 metavar="DAYS", help="Only messages at least DAYS days old."),
    click.option("--max-size", callback=_size, default=None, metavar="SIZE",
                 help="Only messages of at most SIZE (bytes, or 500k, 25MB, 10MiB)."),
)


def message_filter(max_age: float | None, min_age: float | None,
                   max_size: int | None) -> MessageFilter:
    return MessageFilter(max_age=max_age, min_age=min_age, max_size=max_size)


def tls_policy(insecure: bool, allow_plaintext: bool, ca_file: str | None) -> TlsPolicy:
    return TlsPolicy(verify=not insecure, allow_plaintext=allow_plaintext, ca_file=ca_file)


def make_account(side: str, url: str, password_file: Path | None, tls: TlsPolicy, *,
                 master: str | None = None) -> Account:
    """The URL's mailbox, logged into with its own password, or with `master`'s (then the
    password read is the master user's)."""
    endpoint = parse_mailbox_url(url, what=f"{side} URL")
    login = endpoint.user or ""  # a mailbox URL always has one
    password = read_password(side, password_file)
    if master is None:
        return Account(endpoint, Credentials(login, password), tls)
    if not master.strip() or any(c.isspace() or c in "\"\\" for c in master):
        raise ConfigError(f"{master!r}: a user name, without spaces or quotes",
                          where=f"--{side}-master")
    return Account(endpoint, Credentials(login, password, "master", login_user=master), tls)


def folder_filters(maps: tuple[str, ...], include: tuple[str, ...], exclude: tuple[str, ...],
                   exclude_special: tuple[str, ...], no_automap: bool,
                   messages: MessageFilter | None = None) -> FolderFilters:
    return FolderFilters(include=include, exclude=exclude, exclude_special=exclude_special,
                         renames=parse_map(maps), automap=not no_automap,
                         messages=messages or MessageFilter())
