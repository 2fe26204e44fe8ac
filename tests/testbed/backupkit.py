"""Helpers for backup tests: accounts, seeding, running the engine and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mailferry.backup import Codec, backup_mailbox, backup_source
from mailferry.backup.writer import BackupSummary
from mailferry.engine import CopySummary, MailboxCopy, SourceOpener
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot, SeedMessage, imap_login, seed, snapshot
from testbed.readback import Snapshot

MAILFERRY = [sys.executable, "-m", "mailferry"]


def account(server: Dovecot, user: str = "alice") -> Account:
    endpoint = parse_mailbox_url(f"imap://{user}@{server.host}:{server.port}")
    return Account(endpoint, Credentials(user, server.password(user)), TlsPolicy())


def put(server: Dovecot, messages: list[SeedMessage]) -> list[int]:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        return seed(conn, messages)
    finally:
        conn.logout()


def mailbox(server: Dovecot) -> Snapshot:
    return snapshot(server.host, server.port, "alice", server.password())


def backup(server: Dovecot, root: Path, codec: Codec | None = None) -> BackupSummary:
    return backup_mailbox(account(server), root, codec or Codec())


def mailbox_dir(server: Dovecot, root: Path) -> Path:
    return root / f"alice@{server.host}"


def restore(directory: Path, target: Dovecot, state: Path, key: bytes | None = None,
            opener: SourceOpener | None = None) -> CopySummary:
    store = StateStore.open(state)
    try:
        return MailboxCopy(opener or backup_source(directory, key), account(target), store).run()
    finally:
        store.close()


def run_cli(args: Sequence[str], *, source: Dovecot | None = None,
            target: Dovecot | None = None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    if source is not None:
        environment["MAILFERRY_SOURCE_PASSWORD"] = source.password()
    if target is not None:
        environment["MAILFERRY_TARGET_PASSWORD"] = target.password()
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, env=environment,
                          timeout=300)
