"""Helpers for copy tests: run the engine or the real CLI against real Dovecot servers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot, imap_login, list_folders, snapshot, subscribed

MAILFERRY = [sys.executable, "-m", "mailferry"]


def account(server: Dovecot, user: str = "alice", *, port: int | None = None) -> Account:
    endpoint = parse_mailbox_url(f"imap://{user}@{server.host}:{port or server.port}")
    return Account(endpoint, Credentials(user, server.password(user)), TlsPolicy())


def run_copy(source: Dovecot, target: Dovecot, state: Path, *, source_port: int | None = None,
             target_port: int | None = None, **options: Any) -> CopySummary:
    store = StateStore.open(state)
    try:
        return MailboxCopy(imap_source(account(source, port=source_port)),
                           account(target, port=target_port), store, CopyOptions(**options)).run()
    finally:
        store.close()


def run_cli(args: Sequence[str], *, source: Dovecot | None = None, target: Dovecot | None = None,
            env: dict[str, str] | None = None, timeout: float = 300,
            ) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    if source is not None:
        environment["MAILFERRY_SOURCE_PASSWORD"] = source.password()
    if target is not None:
        environment["MAILFERRY_TARGET_PASSWORD"] = target.password()
    environment.update(env or {})
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, env=environment,
                          timeout=timeout)


def mailbox(server: Dovecot, user: str = "alice") -> dict[str, Any]:
    return snapshot(server.host, server.port, user, server.password(user))


def folders(server: Dovecot, user: str = "alice") -> dict[str, frozenset[str]]:
    conn = imap_login(server.host, server.port, user, server.password(user))
    try:
        return list_folders(conn)
    finally:
        conn.logout()


def subscriptions(server: Dovecot, user: str = "alice") -> set[str]:
    conn = imap_login(server.host, server.port, user, server.password(user))
    try:
        return subscribed(conn)
    finally:
        conn.logout()


def write_project(root: Path, source_port: int, target_port: int,
                  users: Sequence[tuple[str, str, str]], *, extra: str = "", head: str = "",
                  waves: dict[str, str] | None = None) -> Path:
    """A migration.toml (password logins on both sides; `head` before, `extra` after),
    users.csv and secrets.csv for `mailferry sync`; `users`: (name, source password, target
    password), `waves`: user -> wave."""
    (root / "migration.toml").write_text(f"""{head}\
[source]
imap = "imap://127.0.0.1:{source_port}"
auth = "password"

[target]
imap = "imap://127.0.0.1:{target_port}"
auth = "password"

[users]
file = "users.csv"
secrets = "secrets.csv"

[sync]
state = "state.db"
backoff = 0.05
{extra}""")
    (root / "users.csv").write_text("source_user,target_user,department,wave\n" + "".join(
        f"{name},{name},,{(waves or {}).get(name, '')}\n" for name, _, _ in users))
    (root / "secrets.csv").write_text("user,source_password,target_password\n" + "".join(
        f"{name},{source},{target}\n" for name, source, target in users))
    return root / "migration.toml"
