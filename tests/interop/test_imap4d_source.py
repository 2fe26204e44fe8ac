"""Copying from GNU imap4d never changes it: imap4d writes a message's state into its mbox
(X-UID, "Status: O" once the message is no longer \\Recent), and a client that SELECTs a
folder read-write (imapsync does) makes it rewrite the Status: field of every message there:
the interop matrix saw 5 source bodies change under the copy. mailferry only EXAMINEs and
FETCHes BODY.PEEK[]: the mbox files stay byte for byte as they were, and the matrix's check
(the source read back after each pair) catches a tool that changes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.basekit import run_copy
from testbed.checker import account_snapshot
from testbed.chroot import ChrootServer
from testbed.imap4d import Imap4d
from testbed.matrix import source_changed

DATE = dt.datetime(2019, 2, 11, 9, 30, tzinfo=dt.UTC)


def mbox_files(server: ChrootServer) -> dict[str, bytes]:
    """The spool (INBOX) and the folders' mbox files, as bytes on disk."""
    work = server.base / "srv"
    return {str(p.relative_to(work)): p.read_bytes() for p in sorted(work.rglob("*"))
            if p.is_file() and p.relative_to(work).parts[0] in ("spool", "home")}


def test_a_copy_from_imap4d_leaves_its_mbox_files_as_they_were(
        dovecot_factory: Callable[..., Dovecot],
        chroot_factory: Callable[..., ChrootServer], tmp_path: Path) -> None:
    source = chroot_factory(Imap4d)
    conn = imap_login(source.host, source.port, "alice", source.password("alice"))
    flags = [(), ("\\Seen",), ("\\Flagged",), ("\\Seen", "\\Answered")]
    seed(conn, [SeedMessage(f"From: a@example.org\r\nMessage-ID: <{n}@example.org>\r\n"
                            f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode(),
                            folder, flags[n % 4], DATE)
                for n, folder in enumerate(["INBOX", "Work &- Play"] * 4)])
    conn.logout()
    before = mbox_files(source)
    snapshot = account_snapshot(source.host, source.port, "alice", source.password("alice"))
    assert len(before) == 3 and mbox_files(source) == before  # (+ subscriptions) reading: same

    summary = run_copy(source, dovecot_factory(), tmp_path / "state.db")  # type: ignore[arg-type]
    assert summary.total("copied") == 8
    assert mbox_files(source) == before
    assert source_changed(source, snapshot) == 0

    # what a client that SELECTs the folder does (imapsync): the check sees it
    conn = imap_login(source.host, source.port, "alice", source.password("alice"))
    conn.select('"Work &- Play"')
    conn.close()
    conn.logout()
    assert mbox_files(source) != before
    assert source_changed(source, snapshot) == 4
