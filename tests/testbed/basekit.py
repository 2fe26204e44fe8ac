"""What every kit shares: the real command line, an account on a test-bed server, messages
put in as a mail client or a delivery would (stdlib imaplib: mailferry is never checked with
itself), and a run of the copy engine between two servers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed.command import MAILFERRY
from testbed.dovecot import Dovecot
from testbed.messages import sample_mailbox
from testbed.seed import SeedMessage, imap_login, seed

__all__ = ["MAILFERRY", "account", "put", "put_in_folders", "run_copy"]

def account(server: Dovecot, user: str = "alice", *, port: int | None = None) -> Account:
    """`user`'s mailbox on `server` (or through a proxy on `port`), password login."""
    endpoint = parse_mailbox_url(f"imap://{user}@{server.host}:{port or server.port}")
    return Account(endpoint, Credentials(user, server.password(user)), TlsPolicy())


def put(server: Dovecot, messages: Sequence[SeedMessage], user: str = "alice") -> list[int]:
    """APPEND as a mail client or a delivery would; the UIDs the server gave."""
    conn = imap_login(server.host, server.port, user, server.password(user))
    try:
        return seed(conn, messages)
    finally:
        conn.logout()


def put_in_folders(server: Dovecot, folders: list[str], count: int) -> None:
    """`count` sample messages spread over `folders` (wire names), each folder created first:
    one that gets no message exists all the same."""
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        for name in folders:
            conn.create(name)  # (INBOX: NO, and it is there)
    finally:
        conn.logout()
    put(server, sample_mailbox(count, folders))


def run_copy(source: Dovecot, target: Dovecot, state: Path, *, source_port: int | None = None,
             target_port: int | None = None, **options: Any) -> CopySummary:
    """One engine run of alice's mailbox (a dry run opens the state read-only, as the CLI)."""
    store = StateStore.open(state, readonly=bool(options.get("dry_run")))
    try:
        return MailboxCopy(imap_source(account(source, port=source_port)),
                           account(target, port=target_port), store, CopyOptions(**options)).run()
    finally:
        store.close()
