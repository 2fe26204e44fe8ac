"""The backup tests' kit: back up and restore alice's mailbox, through the engine or the
real CLI."""

from __future__ import annotations

from pathlib import Path

from mailferry.backup import Codec, backup_mailbox, backup_source
from mailferry.backup.writer import BackupSummary
from mailferry.engine import CopySummary, MailboxCopy, SourceOpener
from mailferry.store import StateStore
from testbed import Dovecot, snapshot
from testbed.basekit import MAILFERRY, account, put
from testbed.copykit import run_cli
from testbed.readback import Snapshot

__all__ = ["MAILFERRY", "account", "backup", "mailbox", "mailbox_dir", "put", "restore",
           "run_cli"]

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
