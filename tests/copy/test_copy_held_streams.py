"""A big folder goes through held streams (engine/appender.py): several sessions of its own,
each batch sent whole but for its final CRLF while the one before is stored, that CRLF sent
once the one before is answered. The target then stores the next batches while it commits
one; what must hold is that the copy stays exact and in the source's order (clients sort by
arrival), through a batch refused for a while, a stream cut and kill -9."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, FaultProxy, imap_login, seed
from testbed.basekit import run_copy
from testbed.copykit import MAILFERRY, arrival_order, mailbox, run_cli
from testbed.link import Link
from testbed.messages import sample_mailbox

BATCH = 5  # messages per batch: 20 batches (100 messages) or more make a folder use streams
MESSAGES = 160


def _seeded(source: Dovecot, count: int = MESSAGES) -> int:
    """The source's INBOX filled (a few duplicates among them): how many it holds."""
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, sample_mailbox(count, ["INBOX"], sizes=(800, 4000)))
    conn.logout()
    return sum(mailbox(source)["INBOX"].values())


class _Appends:
    """APPEND commands the client sent through a proxy, all connections together; `then` is
    called (on the proxy's thread) when the count reaches `at`."""

    def __init__(self, at: int = 0, then: Callable[[], None] | None = None) -> None:
        self.count = 0
        self.at, self.then = at, then
        self.lock = threading.Lock()

    def up(self, data: bytes) -> None:
        with self.lock:
            before = self.count
            self.count += len(re.findall(rb"(?:^|\n)M\d+ APPEND ", data))
            if self.then is not None and before < self.at <= self.count:
                self.then()


def test_a_big_folder_goes_through_held_streams_in_the_sources_order(
        source: Dovecot, target: Dovecot, dovecot_factory: Callable[..., Dovecot],
        tmp_path: Path) -> None:
    """The same copy with three streams and with one: both exact and in the source's
    order; the first through three connections more (the streams are used, so the order
    is theirs to keep)."""
    held = _seeded(source)
    one_stream = dovecot_factory()
    connections = {}
    for name, server, streams in (("three", target, 3), ("one", one_stream, 1)):
        with FaultProxy(server.host, server.port) as proxy:
            summary = run_copy(source, server, tmp_path / f"{name}.db", target_port=proxy.port,
                               batch_messages=BATCH, append_streams=streams, workers=1)
            proxy.wait_closed()
            connections[name] = proxy.connections
        assert summary.ok, summary.to_json()
        assert summary.total("copied") == held
        assert mailbox(server) == mailbox(source)
        assert arrival_order(server) == arrival_order(source), f"{name}: out of order"
    assert connections["three"] == connections["one"] + 3, connections


def test_a_batch_refused_for_a_while_drops_the_batches_held_behind_it(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """The 8th APPEND (a held batch's) is answered "try again later" when its CRLF comes:
    the batches held behind it on the other streams are dropped with their connections and
    copied by the retry; none twice, none out of order."""
    held = _seeded(source)
    with FaultProxy(target.host, target.port) as proxy:
        appends = _Appends(at=8, then=lambda: setattr(proxy, "throttle_appends", 1))
        proxy.on_up = appends.up
        proxy.parse_appends = True
        summary = run_copy(source, target, tmp_path / "s.db", target_port=proxy.port,
                           batch_messages=BATCH, workers=1, backoff=0.05)
        assert proxy.throttled == 1, appends.count
    assert summary.ok, summary.to_json()
    assert summary.total("copied") == held
    assert mailbox(target) == mailbox(source)
    assert arrival_order(target) == arrival_order(source)


def test_a_stream_cut_mid_batch_is_retried_exact_and_in_order(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """Connections cut after 30 KB sent (the streams, by their number: the folder's own
    session and the listing's come first), twice: whatever was held is never stored, what
    was sent whole may be, and the retry finds it."""
    _seeded(source)
    with FaultProxy(target.host, target.port) as proxy:
        for skip in (2, 5):
            proxy.cut_after(up=30_000, skip_connections=skip)
        summary = run_copy(source, target, tmp_path / "s.db", target_port=proxy.port,
                           batch_messages=BATCH, workers=1, backoff=0.05)
        assert proxy.cuts_done >= 1
    assert summary.ok, summary.to_json()
    assert mailbox(target) == mailbox(source)
    assert arrival_order(target) == arrival_order(source)


def test_sigkill_with_batches_held_then_a_rerun_gives_an_exact_copy(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """Killed when the 12th APPEND goes out (batches held on the other streams, one
    answered and not yet recorded): the rerun copies each message once, in order."""
    count = _seeded(source)
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": "alice-pw",
           "MAILFERRY_TARGET_PASSWORD": "alice-pw"}
    with FaultProxy(target.host, target.port) as proxy:
        args = [*MAILFERRY, "copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                "--state", str(tmp_path / "s.db"), "--batch-size", str(BATCH),
                "--workers", "1"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        proxy.on_up = _Appends(at=12, then=lambda: proc.send_signal(signal.SIGKILL)).up
        assert proc.wait(timeout=120) == -signal.SIGKILL, "the run ended before its kill"
        proxy.on_up = None
        proxy.wait_closed()
        stored = sum(mailbox(target).get("INBOX", {}).values())
        assert 0 < stored < count, stored
        again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
    assert mailbox(target) == mailbox(source)
    assert arrival_order(target) == arrival_order(source)


def _two_big_folders(source: Dovecot) -> None:
    """INBOX and Big, each big enough for streams at BATCH messages a batch."""
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, sample_mailbox(120, ["INBOX"], sizes=(800, 4000)))
    seed(conn, sample_mailbox(120, ["Big"], seed=8, sizes=(800, 4000)))
    conn.logout()


def test_two_big_folders_at_once_share_three_streams(
        source: Dovecot, dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """Two big folders copied at once (two workers): the process holds at most three held
    streams whatever the folder count, so the target sees at most three connections more
    at once than the same copy without streams; both folders exact and in order."""
    _two_big_folders(source)
    most = {}
    for streams in (1, 3):
        server = dovecot_factory()
        with FaultProxy(server.host, server.port) as proxy:
            summary = run_copy(source, server, tmp_path / f"{streams}.db",
                               target_port=proxy.port, batch_messages=BATCH,
                               append_streams=streams, workers=2)
            proxy.wait_closed()
            most[streams] = proxy.most_open
            opened = proxy.connections
        assert summary.ok, summary.to_json()
        assert mailbox(server) == mailbox(source)
        for folder in ("INBOX", "Big"):
            assert arrival_order(server, folder) == arrival_order(source, folder), folder
    assert opened > most[1], "no streams were used"
    assert most[3] <= most[1] + 3, most  # 8 with no cap: three streams for each folder


@pytest.mark.parametrize("limit", [2, 3])
def test_stream_logins_the_server_refuses_leave_the_folder_exact_and_in_order(
        source: Dovecot, dovecot_factory: Callable[..., Dovecot], tmp_path: Path,
        limit: int) -> None:
    """A target allowing alice `limit` connections (Dovecot's mail_max_userip_connections;
    the copy's own session is one): of three stream logins, one or two succeed. One stream
    alone is not used (the folder goes on its own session), two are; either way the copy
    is exact and in order, and the refusals are no failure."""
    held = _seeded(source)
    target = dovecot_factory(max_userip_connections=limit)
    with FaultProxy(target.host, target.port) as proxy:
        summary = run_copy(source, target, tmp_path / "s.db", target_port=proxy.port,
                           batch_messages=BATCH, workers=1)
        proxy.wait_closed()
        assert proxy.connections == 1 + 3  # the copy's session and three stream logins
    assert summary.ok, summary.to_json()
    assert summary.total("copied") == held
    assert mailbox(target) == mailbox(source)
    assert arrival_order(target) == arrival_order(source)


@pytest.mark.slow  # 32 MB through a capped link (~17 s each): `make test-slow`
@pytest.mark.parametrize("cut", [False, True])
def test_streams_wait_for_auto_compression_to_measure_the_link_then_open(
        cut: bool, dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """A target offering COMPRESS behind a 24 Mbit/s link, `--compress auto`: the big folder
    starts on its own session while its APPENDs time the link (a held APPEND would time it
    wrong); once the link proves slow the session compresses, and the rest of the folder
    goes through three streams opened then, compressed too: exact and in the source's
    order, the streams counted at the proxy. `cut`: the first stream's connection is cut
    after 1 MB sent; the retry copies what it dropped, none twice, none out of order."""
    source = dovecot_factory()
    target = dovecot_factory(compress=True)
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    # 25 batches of 8, over 1 MB each (an APPEND that big times the link)
    seed(conn, sample_mailbox(200, ["INBOX"], sizes=(135_000, 165_000)))
    conn.logout()
    with Link(target.host, target.port, delay=0.001, rate=24e6) as link, \
            FaultProxy(link.host, link.port, record=True) as proxy:
        if cut:
            proxy.cut_after(up=1_000_000, skip_connections=1)  # (the copy's own comes first)
        done = run_cli(["copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                        "--state", str(tmp_path / "s.db"), "--batch-size", "8", "--workers",
                        "1", "--compress", "auto", "--json"],
                       source=source, target=target)
        proxy.wait_closed()
        assert done.returncode == 0, done.stderr[-2000:]
        sent = bytes(proxy.sent)
    assert mailbox(target) == mailbox(source)
    assert arrival_order(target) == arrival_order(source)
    if cut:
        assert proxy.cuts_done == 1
        return
    assert proxy.connections == 1 + 3, proxy.connections  # the copy's session, three streams
    assert sent.count(b" COMPRESS DEFLATE\r\n") == 4  # each of them, once the link was slow
