"""Held streams (engine/appender.py) into servers other than Dovecot: a folder of 30 batches
goes through three sessions more into Cyrus, each batch's final CRLF sent once the one
before is answered. What that rests on is that a server adds a MULTIAPPEND's messages, and
numbers them, only when the command ends, whatever other sessions append meanwhile: the
target's UID order must still be the source's, nothing lost or doubled. pymap offers the
same extensions but stored a batch's first message, then refused the batch, when another
session appended at once (the retry doubled it): it gets no streams (`imap.session.
_holds_appends`), nor does Courier (no MULTIAPPEND); both copy through their one session,
also in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testbed import Dovecot, FaultProxy, SeedMessage, imap_login, seed
from testbed.basekit import run_copy
from testbed.chroot import ChrootServer
from testbed.courier import Courier
from testbed.cyrus import Cyrus
from testbed.pymap import Pymap

BATCH = 5
COUNT = 150
DATE = dt.datetime(2011, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


def _ids_in_uid_order(server: Any) -> list[bytes]:
    conn = imap_login(server.host, server.port, "alice", server.password("alice"))
    try:
        conn.select("INBOX", readonly=True)
        _, data = conn.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        return [item[1].split(b"<", 1)[1].split(b">", 1)[0] for item in data
                if isinstance(item, tuple)]
    finally:
        conn.logout()


@pytest.mark.parametrize(("kind", "streams"), [("pymap", 0), ("cyrus", 3), ("courier", 0)])
def test_a_big_folder_keeps_the_sources_order_in_other_servers(
        kind: str, streams: int, dovecot_factory: Callable[..., Dovecot],
        chroot_factory: Callable[..., ChrootServer], tmp_path: Path) -> None:
    source = dovecot_factory()
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, [SeedMessage(b"Message-ID: <held-%d@example.org>\r\nSubject: held %d\r\n\r\n"
                            b"%s\r\n" % (n, n, b"x" * (200 + n * 7)), "INBOX", (), DATE)
                for n in range(COUNT)])
    conn.logout()
    target: Any = (Pymap().start() if kind == "pymap"
                   else chroot_factory({"cyrus": Cyrus, "courier": Courier}[kind]))
    try:
        with FaultProxy(target.host, target.port) as proxy:
            # (Cyrus offers COMPRESS: "auto" would wait for the link's speed, appending
            # through one session meanwhile, and on loopback it never shows)
            summary = run_copy(source, target, tmp_path / "s.db", target_port=proxy.port,
                               batch_messages=BATCH, workers=1, compress="never")
            proxy.wait_closed()
        assert summary.ok, summary.to_json()
        assert proxy.connections == 1 + streams  # the folder's session, and the streams
        assert summary.total("copied") == COUNT
        assert _ids_in_uid_order(target) == [b"held-%d@example.org" % n for n in range(COUNT)]
    finally:
        if kind == "pymap":
            target.cleanup()
