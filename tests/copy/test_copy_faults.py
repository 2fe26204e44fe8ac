"""Crashes and dropped connections lose nothing and duplicate nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testbed import Dovecot, FaultProxy, SeedMessage, imap_login, seed
from testbed.copykit import MAILFERRY, mailbox, run_copy
from testbed.messages import sample_mailbox

pytestmark = pytest.mark.slow  # kill -9 at many points: `make test-slow`

FOLDERS = ["INBOX", "Work", "Work/Clients", "Sent", "Caf&AOk-"]


@dataclass
class _Run:
    """One `mailferry copy` process and the point at which it is to be killed."""

    proc: subprocess.Popen[bytes] | None = None
    appends: int = 0
    uploaded: int = 0
    kill_appends: int = 0
    kill_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, proc: subprocess.Popen[bytes] | None, *, kill_appends: int,
              kill_bytes: int) -> None:
        with self.lock:
            self.proc, self.appends, self.uploaded = proc, 0, 0
            self.kill_appends, self.kill_bytes = kill_appends, kill_bytes

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc = None

    def down(self, data: bytes) -> None:
        """The proxy's server->client chunks: killed once the k-th APPEND is confirmed (the
        client may not have read the APPENDUID, let alone committed it)."""
        with self.lock:
            self.appends += data.count(b"APPENDUID")
            if 0 < self.kill_appends <= self.appends:
                self.kill()

    def up(self, data: bytes) -> None:
        """The client->server chunks: killed in the middle of uploading a batch."""
        with self.lock:
            self.uploaded += len(data)
            if 0 < self.kill_bytes <= self.uploaded:
                self.kill()


def _seeded(source: Dovecot, mail: list[SeedMessage]) -> tuple[Any, dict[str, str]]:
    """`mail` put in the source: (its snapshot, the environment a copy's passwords need)."""
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, mail)
    conn.logout()
    return mailbox(source), {**os.environ, "MAILFERRY_SOURCE_PASSWORD": "alice-pw",
                             "MAILFERRY_TARGET_PASSWORD": "alice-pw"}


def test_sigkill_at_many_points_then_rerun_gives_an_exact_copy(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    expected, env = _seeded(source, sample_mailbox(400, FOLDERS, sizes=(1000, 30000)))
    state = tmp_path / "state.db"
    # Kill points are set by what crosses the wire, not by the clock, so they spread over
    # the copy however fast the machine is: even rounds right after the server confirmed
    # the k-th APPEND of that run, odd rounds in the middle of uploading a batch.
    run = _Run()
    with FaultProxy(target.host, target.port, on_down=run.down, on_up=run.up) as proxy:
        args = [*MAILFERRY, "copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                "--state", str(state), "--batch-size", "7", "--workers", "3"]
        kills = 0
        for round_number in range(12):
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            run.start(proc, kill_appends=0 if round_number % 2 else 2 + round_number // 2,
                      kill_bytes=60_000 * (round_number // 2 + 1) if round_number % 2 else 0)
            code = proc.wait(timeout=120)
            if code == -signal.SIGKILL:
                kills += 1
            elif code == 0:
                break
        assert kills >= 8, f"only {kills} runs were killed mid-copy"
        final = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
    got = mailbox(target)
    for folder, content in expected.items():
        assert got[folder] == content, f"{folder}: target differs from source after {kills} kills"


@pytest.mark.parametrize("where", ["answered", "uploading"])
def test_sigkill_with_a_grown_batch_in_flight_then_reruns_give_an_exact_copy(
        where: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """One folder of ~1,000 small messages at the default batch size: 4 batches of 100, then
    of up to 400 (CopyOptions.batch_limits). Killed right after the first grown batch was
    confirmed, or while it is uploaded: two runs after it leave the target as the source,
    no message lost or repeated."""
    expected, env = _seeded(source, sample_mailbox(1000, ["INBOX"], sizes=(1500, 3000)))
    state = tmp_path / "state.db"
    run = _Run()
    with FaultProxy(target.host, target.port, on_down=run.down, on_up=run.up) as proxy:
        args = [*MAILFERRY, "copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                "--state", str(state)]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # 400 messages of ~2.25 KB went in the first 4 batches: 1.2 MB is inside the 5th
        run.start(proc, kill_appends=5 if where == "answered" else 0,
                  kill_bytes=1_200_000 if where == "uploading" else 0)
        assert proc.wait(timeout=120) == -signal.SIGKILL, "the run ended before its kill"
        run.start(None, kill_appends=0, kill_bytes=0)
        for _ in range(2):
            again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
            assert again.returncode == 0, again.stderr
    assert mailbox(target) == expected


def test_connections_cut_mid_fetch_and_mid_append_are_retried(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source, target = dovecot_factory(), dovecot_factory()
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, sample_mailbox(250, FOLDERS, sizes=(5000, 40000)))
    state = tmp_path / "state.db"
    with FaultProxy(source.host, source.port) as src_proxy, \
            FaultProxy(target.host, target.port) as tgt_proxy:
        for n in range(3):  # mid-APPEND, on three successive target connections
            tgt_proxy.cut_after(up=150_000 + 100_000 * n, skip_connections=n)
        summary = run_copy(source, target, state, source_port=src_proxy.port,
                           target_port=tgt_proxy.port, backoff=0.05, workers=2)
        assert tgt_proxy.cuts_done >= 2
        assert summary.ok, summary.to_json()
        assert mailbox(target) == mailbox(source)

        seed(conn, sample_mailbox(200, FOLDERS, sizes=(5000, 40000), seed=11))
        for n in range(3):  # mid-FETCH, on three successive source connections
            src_proxy.cut_after(down=200_000 + 100_000 * n, skip_connections=n)
        summary = run_copy(source, target, state, source_port=src_proxy.port,
                           target_port=tgt_proxy.port, backoff=0.05, workers=2)
        assert src_proxy.cuts_done >= 2
        assert summary.ok, summary.to_json()
    conn.logout()
    assert mailbox(target) == mailbox(source)


def test_a_connection_cut_while_listing_folders_is_retried(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, sample_mailbox(60, FOLDERS))
    conn.logout()
    with FaultProxy(source.host, source.port, record=True) as proxy:
        proxy.cut_after(down=1800)  # the first connection: after login, inside LIST/STATUS
        summary = run_copy(source, target, tmp_path / "state.db", source_port=proxy.port,
                           backoff=0.05)
        assert proxy.cuts_done == 1
        assert "LIST" in proxy.commands()
    assert summary.ok, summary.to_json()
    assert mailbox(target) == mailbox(source)


def test_try_again_later_is_retried_with_backoff(source: Dovecot, target: Dovecot,
                                                 tmp_path: Path) -> None:
    """Microsoft 365 and Gmail throttle: "NO [UNAVAILABLE] ... try again later"."""
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, sample_mailbox(80, FOLDERS))
    conn.logout()
    with FaultProxy(target.host, target.port) as proxy:
        proxy.throttle_appends = 3
        summary = run_copy(source, target, tmp_path / "state.db", target_port=proxy.port,
                           backoff=0.05)
        assert proxy.throttled == 3
    assert summary.ok, summary.to_json()
    assert summary.total("copied") == sum(sum(c.values()) for c in mailbox(source).values())
    assert mailbox(target) == mailbox(source)
