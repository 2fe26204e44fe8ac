"""Backup and verify benchmark against the copy, on the same generated mailbox.

Seeds ~1,000 realistic messages (testbed.messages: 4 folders, 1.5-40 KB, flags, keywords)
into a throwaway source Dovecot, then times on 127.0.0.1 only:
  copy            MailboxCopy into a fresh target Dovecot
  backup          into an empty directory (plain, then zstd + AES-GCM), fsync included
  backup re-run   nothing new: one STATUS per folder
  verify          fingerprint, flags, date, size (BODY[HEADER] on both sides)
  verify --deep   sha256 of every BODY[] on both sides
  backup --verify re-hash the plain backup against its manifest
MB/s is the mailbox size (sum of the source's RFC822.SIZE) over the wall time.
Run: `.venv/bin/python bench/backup_bench.py [--messages N]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from mailferry.backup import Codec, backup_mailbox, check_backup  # noqa: E402
from mailferry.engine import CopyOptions, MailboxCopy, imap_source  # noqa: E402
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url  # noqa: E402
from mailferry.store import StateStore  # noqa: E402
from mailferry.verify import verify_mailbox  # noqa: E402
from testbed import Dovecot, imap_login, seed  # noqa: E402
from testbed.messages import sample_mailbox  # noqa: E402

FOLDERS = ["INBOX", "Work", "Work/Clients", "Archive/2019"]


def account(server: Dovecot) -> Account:
    return Account(parse_mailbox_url(server.url()), Credentials("alice", server.password()),
                   TlsPolicy())


def timed(label: str, size: int, run: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    print(f"{label:<28} {seconds:7.2f} s  {size / seconds / 1e6:8.1f} MB/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    with Dovecot() as source, Dovecot() as target, \
            tempfile.TemporaryDirectory(prefix="mf-bench-") as work:
        messages = sample_mailbox(args.messages, FOLDERS, sizes=(1500, 40000))
        conn = imap_login(source.host, source.port, "alice", source.password())
        seed(conn, messages)
        conn.logout()
        size = sum(len(m.raw) for m in messages)
        print(f"mailbox: {len(messages)} messages, {size / 1e6:.1f} MB, {len(FOLDERS)} folders")
        store = StateStore.open(Path(work) / "state.db")
        try:
            summary = timed("copy", size, lambda: MailboxCopy(
                imap_source(account(source)), account(target), store, CopyOptions()).run())
            assert summary.ok, summary.to_json()
        finally:
            store.close()
        timed("backup (plain)", size,
              lambda: backup_mailbox(account(source), Path(work) / "plain", Codec()))
        timed("backup (zstd + AES-GCM)", size, lambda: backup_mailbox(
            account(source), Path(work) / "sealed", Codec("zstd", bytes(32))))
        timed("backup re-run (no change)", size,
              lambda: backup_mailbox(account(source), Path(work) / "plain", Codec()))
        for deep in (False, True):
            report = timed(f"verify{' --deep' if deep else ''}", size,
                           lambda deep=deep: verify_mailbox(account(source), account(target),
                                                            deep=deep))
            assert report.ok, report.to_json()["differences"][:3]
        mailbox_dir = next((Path(work) / "plain").iterdir())
        check = timed("backup --verify", size, lambda: check_backup(mailbox_dir, None))
        assert check.ok and check.messages == len(messages)


if __name__ == "__main__":
    main()
