"""Each test-bed server starts with its users, takes the seed kit's APPENDs and reads back
with the kit's readback; a wrong password is refused and users do not see each other."""

from __future__ import annotations

import datetime as dt
import imaplib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testbed import SeedMessage, imap_login, read_folder, seed, snapshot
from testbed.bodydiff import classify
from testbed.checker import account_snapshot
from testbed.chroot import ChrootServer, ChrootUser
from testbed.courier import Courier
from testbed.cyrus import Cyrus
from testbed.imap4d import Imap4d
from testbed.matrix_mailbox import matrix_mailbox, seed_mailbox
from testbed.pymap import Pymap, PymapUser

USERS = [("alice", "alice-pw"), ("bob", "b0b pass w/ spaces")]


@pytest.fixture
def pymap_factory() -> Iterator[Callable[..., Pymap]]:
    started: list[Pymap] = []

    def start(**kwargs: Any) -> Pymap:
        server = Pymap(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()


def _start(kind: str, pymap_factory: Callable[..., Pymap],
           chroot_factory: Callable[..., ChrootServer]) -> Any:
    if kind == "pymap-maildir":
        return pymap_factory(users=[PymapUser(*u) for u in USERS])
    if kind == "pymap-dict":
        return pymap_factory(backend="dict")
    chroot_kind = {"imap4d": Imap4d, "cyrus": Cyrus, "courier": Courier}[kind]
    return chroot_factory(chroot_kind, users=[ChrootUser(*u) for u in USERS])


KINDS = ["pymap-maildir", "pymap-dict", "imap4d", "cyrus", "courier"]
REWRITES: dict[str, tuple[str, ...]] = {
    "pymap-maildir": ("line_endings",),  # serves every message with bare LF
    "pymap-dict": (),
    "imap4d": ("headers",),  # X-IMAPbase, X-UID and Status: its mbox bookkeeping, shown
    "cyrus": (),
    "courier": (),
}


@pytest.mark.parametrize("kind", KINDS)
def test_server_starts_seeds_and_reads_back(kind: str, pymap_factory: Callable[..., Pymap],
                                            chroot_factory: Callable[..., ChrootServer]) -> None:
    server = _start(kind, pymap_factory, chroot_factory)
    raw = b"From: a@example.org\r\nSubject: smoke\r\nMessage-ID: <smoke@x>\r\n\r\nhello\r\n"
    when = dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    conn = imap_login(server.host, server.port, "alice", server.password("alice"))
    seed(conn, [SeedMessage(raw, "INBOX", ("\\Seen", "\\Flagged"), when)])
    stored = read_folder(conn, "INBOX")
    conn.logout()
    assert [m.flags for m in stored] == [frozenset({"\\Seen", "\\Flagged"})]
    # what each server does to the bytes it is given (docs/interop.md), and nothing more
    assert classify(raw, stored[0].body) == REWRITES[kind]
    assert imaplib.Internaldate2tuple(
        b'INTERNALDATE "' + stored[0].internaldate.encode() + b'"') is not None
    assert sum(len(c) for c in snapshot(server.host, server.port, "alice",
                                        server.password("alice")).values()) == 1

    refused = imaplib.IMAP4(server.host, server.port)
    with pytest.raises(imaplib.IMAP4.error):
        refused.login("alice", "wrong password")
    refused.shutdown()
    if kind != "pymap-dict":  # one user only
        other = imap_login(server.host, server.port, "bob", server.password("bob"))
        other.select("INBOX", readonly=True)
        assert read_folder(other, "INBOX") == []
        other.logout()


@pytest.mark.parametrize("kind", KINDS)
def test_matrix_mailbox_seeds_and_reads_back(
        kind: str, pymap_factory: Callable[..., Pymap],
        chroot_factory: Callable[..., ChrootServer]) -> None:
    """The matrix mailbox (nested and non-ASCII folders, keywords, old dates) on each server:
    what the server took is what the checker reads back, folder by folder."""
    server = _start(kind, pymap_factory, chroot_factory)
    box = [m for m in matrix_mailbox(generated=36, corpus=0) if m.internaldate.year < 2030]
    report = seed_mailbox(server.host, server.port, "alice", server.password("alice"), box)
    held = account_snapshot(server.host, server.port, "alice", server.password("alice"))
    assert held.count() == report.appended
    assert {"Projets/Café ☕", "日本語", "Work & Play", "Old Mail 2003"} <= set(held.folders)
    stored_dates = {m.instant for f in held.folders.values() for m in f.messages}
    assert stored_dates <= {int(m.internaldate.timestamp()) for m in box}  # 1971..2021 kept
    assert min(d for d in stored_dates if d is not None) < 100_000_000  # 1971-1973
