"""Secrets for a migration project, so that no password or token sits in migration.toml.

A secret in migration.toml is a *reference*: `env:NAME` (an environment variable) or
`file:PATH` (the first line of a file, relative to migration.toml). Per-user passwords
come from a CSV file (`user,source_password,target_password`) that is itself the secret
store; a cell may also hold a reference. XOAUTH2 tokens come from a token file or a
command and are fetched again when they expire. Resolved values live only in memory:
nothing here logs, prints or stores them.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mailferry.errors import ConfigError

REFERENCE_KINDS = ("env:", "file:")
SECRETS_HEADER = ("user", "source_password", "target_password")
# a token this close to its expiry is fetched again before a new connection uses it
EXPIRY_MARGIN = 60.0


def check_reference(value: str) -> str:
    """A Field check: the value must say where the secret is, never be the secret."""
    if not value.startswith(REFERENCE_KINDS) or len(value.split(":", 1)[1]) == 0:
        raise ValueError("write env:NAME or file:PATH, never the secret itself")
    return value


def resolve(reference: str, *, where: str, key: str = "", base: Path = Path(".")) -> str:
    """The secret `reference` points to; ConfigError naming `where` (file:line) and `key`
    (what holds the reference), never the value."""
    label = f"{key}: " if key else ""
    kind, _, name = reference.partition(":")
    if kind == "env":
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"{label}environment variable {name} is not set or empty",
                              where=where)
        return value
    if kind == "file":
        path = base / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{label}cannot read secret file {path}: {exc.strerror}",
                              where=where) from None
        value = text.splitlines()[0].strip() if text.strip() else ""
        if not value:
            raise ConfigError(f"{label}secret file {path} is empty", where=where)
        return value
    raise ConfigError(f"{label}not env:NAME or file:PATH", where=where)


@dataclass(frozen=True)
class UserSecrets:
    source_password: str | None = field(default=None, repr=False)
    target_password: str | None = field(default=None, repr=False)


def load_secrets(path: Path) -> dict[str, UserSecrets]:
    """user -> passwords, from `user,source_password,target_password`; empty cells allowed
    (that side logs in another way). Cells starting with env: or file: are references."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(path)) from None
    secrets: dict[str, UserSecrets] = {}
    with handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None or tuple(h.strip() for h in header) != SECRETS_HEADER:
            raise ConfigError(f"header must be {','.join(SECRETS_HEADER)}", where=f"{path}:1")
        for row in rows:
            where = f"{path}:{rows.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(SECRETS_HEADER):
                raise ConfigError(f"expected {len(SECRETS_HEADER)} columns, got {len(row)}",
                                  where=where)
            user = row[0].strip()
            if not user:
                raise ConfigError("user: empty", where=where)
            if user in secrets:
                raise ConfigError(f"user {user!r} listed twice", where=where)
            source, target = (_cell(cell, where, column, path.parent)
                              for cell, column in zip(row[1:], SECRETS_HEADER[1:], strict=True))
            secrets[user] = UserSecrets(source, target)
    return secrets


def _cell(cell: str, where: str, column: str, base: Path) -> str | None:
    if not cell:
        return None
    if cell.startswith(REFERENCE_KINDS):
        return resolve(cell, where=where, key=column, base=base)
    return cell


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float | None  # time.time(); None: until the server refuses it


class TokenSource:
    """XOAUTH2 access tokens per user, from a file or a command, cached until they expire.

    token file: JSON `{"user": "token"}` or `{"user": {"access_token": ..., "expires_at":
    epoch seconds}}`, re-read on refresh (another process keeps it fresh).
    command: run with `{user}` replaced (no shell); it prints the token, or JSON with
    `access_token` and `expires_in` seconds.
    """

    def __init__(self, *, file: Path | None = None, command: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if (file is None) == (command is None):
            raise ConfigError("xoauth2 needs exactly one of token_file and token_command")
        self.file = file
        self.command = command
        self.clock = clock
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def current(self, user: str) -> str:
        """A token that is not known to be expired (fetched again if it is)."""
        with self._lock:
            token = self._tokens.get(user)
            if token is None or (token.expires_at is not None
                                 and token.expires_at - EXPIRY_MARGIN <= self.clock()):
                token = self._tokens[user] = self._fetch(user)
            return token.value

    def refresh(self, user: str) -> str:
        """A new token, after the server refused the one we had."""
        with self._lock:
            token = self._tokens[user] = self._fetch(user)
            return token.value

    def refresher(self, user: str) -> Callable[[], str]:
        return lambda: self.refresh(user)

    def _fetch(self, user: str) -> _Token:
        if self.file is not None:
            return self._from_file(user)
        assert self.command is not None
        return self._from_command(user)

    def _from_file(self, user: str) -> _Token:
        assert self.file is not None
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read token file: {exc}", where=str(self.file)) from None
        entry = data.get(user) if isinstance(data, dict) else None
        if isinstance(entry, str) and entry:
            return _Token(entry, None)
        if isinstance(entry, dict) and isinstance(entry.get("access_token"), str):
            expires = entry.get("expires_at")
            return _Token(entry["access_token"],
                          float(expires) if isinstance(expires, int | float) else None)
        raise ConfigError(f"no token for {user!r}", where=str(self.file))

    def _from_command(self, user: str) -> _Token:
        assert self.command is not None
        argv = [part.replace("{user}", user) for part in shlex.split(self.command)]
        where = f"token_command for {user!r}"
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"cannot run {argv[0]!r}: {exc}", where=where) from None
        if done.returncode != 0:
            # its stderr may be long or sensitive: only the status goes into the error
            raise ConfigError(f"{argv[0]!r} exited with status {done.returncode}", where=where)
        out = done.stdout.strip()
        if out.startswith("{"):
            try:
                data = json.loads(out)
                expires_in = data.get("expires_in")
                return _Token(str(data["access_token"]), self.clock() + float(expires_in)
                              if isinstance(expires_in, int | float) else None)
            except (ValueError, KeyError, TypeError):
                raise ConfigError("printed JSON without access_token", where=where) from None
        token = out.splitlines()[0] if out else ""
        if not token:
            raise ConfigError(f"{argv[0]!r} printed no token", where=where)
        return _Token(token, None)
