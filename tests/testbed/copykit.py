"""The copy tests' kit: the engine or the real CLI against real Dovecot servers, and what
the servers hold afterwards, read back by the test bed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from typing import Any

from testbed import Dovecot, imap_login, list_folders, read_folder, snapshot, subscribed
from testbed.basekit import MAILFERRY, account, put, run_copy
from testbed.projects import write_sync_project as write_project

__all__ = ["MAILFERRY", "account", "arrival_order", "folders", "mailbox", "put", "run_cli",
           "run_copy", "subscriptions", "write_project"]


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


def arrival_order(server: Dovecot, folder: str = "INBOX") -> list[str]:
    """The folder's messages (sha256 of each) in UID order: the order clients sort by
    arrival, which a copy keeps."""
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        return [m.sha256 for m in read_folder(conn, folder)]
    finally:
        conn.logout()


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
