"""Mirror mode across a UIDVALIDITY change (a folder restored or rebuilt by the provider):
on the source, the messages are paired again by fingerprint first, and only what really left
is removed, nothing copied again; on the target, our recorded UIDs mean nothing any more, so
nothing is moved or removed there (never a mass delete), and the copy re-pairs."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from testbed import Dovecot, SeedMessage, imap_login, read_folder, seed
from testbed.messages import make_message
from testbed.mirrorkit import Client, assert_mirrored, mailbox, run_copy


def _rebuild(server: Dovecot, folder: str, *, leave_out: int = 0) -> None:
    """Delete the folder and create it again with its messages (bytes, flags, dates): a new
    UIDVALIDITY. The first `leave_out` messages are not put back."""
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        stored = read_folder(conn, folder)
        conn.select("INBOX")
        assert conn.delete(folder)[0] == "OK"
        seed(conn, [SeedMessage(m.body, folder, tuple(m.flags),
                                dt.datetime.strptime(m.internaldate, "%d-%b-%Y %H:%M:%S %z"))
                    for m in stored[leave_out:]])
    finally:
        conn.logout()


def _first_pass(source: Dovecot, target: Dovecot, state: Path) -> None:
    rng = random.Random(3)
    conn = imap_login(source.host, source.port, "alice", source.password())
    try:
        seed(conn, [SeedMessage(make_message(rng, n, size=900), "Work" if n < 12 else "INBOX",
                                ("\\Seen",), dt.datetime(2021, 4, 1, tzinfo=dt.UTC)
                                + dt.timedelta(hours=n)) for n in range(16)])
    finally:
        conn.logout()
    assert run_copy(source, target, state, mirror=True).ok


def test_source_uidvalidity_change_repairs_first(source: Dovecot, target: Dovecot,
                                                 tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    _first_pass(source, target, state)
    _rebuild(source, "Work", leave_out=2)  # two deleted meanwhile
    second = run_copy(source, target, state, mirror=True)
    assert second.ok, second.to_json()
    assert "UIDVALIDITY changed on the source" in second.mirror.note
    assert (second.mirror.repaired, second.mirror.count("removed")) == (10, 2)
    assert second.total("copied") == 0, "a message was copied again"
    assert_mirrored(source, target)


def test_target_uidvalidity_change_moves_and_removes_nothing(source: Dovecot, target: Dovecot,
                                                             tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    _first_pass(source, target, state)
    _rebuild(target, "Work")
    with Client(source) as user:
        user.delete("Work", user.uids("Work")[:1])
    before = mailbox(target)["Work"]
    second = run_copy(source, target, state, mirror=True)
    assert second.ok, second.to_json()
    assert "UIDVALIDITY changed on the target" in second.mirror.note
    assert second.mirror.actions == [] and second.total("copied") == 0
    assert mailbox(target)["Work"] == before
