"""The copy tests' kit: the engine or the real CLI against real Dovecot servers, and what
the servers hold afterwards, read back by the test bed."""

from __future__ import annotations

import os
import smtplib
import subprocess
from collections.abc import Sequence
from typing import Any

from testbed import Dovecot, imap_login, list_folders, read_folder, snapshot, subscribed
from testbed.basekit import MAILFERRY, account, put, run_copy
from testbed.projects import write_sync_project as write_project

__all__ = ["MAILFERRY", "account", "arrival_order", "deliver", "folders", "mailbox", "put",
           "relayed", "run_cli", "run_copy", "subscriptions", "write_project"]


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


def deliver(server: Dovecot, raw: bytes, user: str = "alice") -> None:
    """Through the server's own LMTP, which puts its Return-Path, Delivered-To and Received
    (with its own host name, id and time) on top, as any receiving server does."""
    with smtplib.LMTP(server.host, server.lmtp_port) as lmtp:
        lmtp.sendmail("sender@outside.example", [f"{user}@bank.example"], raw)


def relayed(n: int, mid: bool = True) -> bytes:
    """A message as the relay hands it on: its own Received line on top."""
    header = f"Message-ID: <relayed{n}@outside.example>\r\n" if mid else ""
    return (f"Received: from mx.outside.example\r\n\tby relay.bank.example (mailferry) with"
            f" ESMTP id r{n}\r\nFrom: s@outside.example\r\nTo: alice@bank.example\r\n"
            f"Subject: relayed {n}\r\n{header}\r\nrelayed body {n}\r\n").encode()
