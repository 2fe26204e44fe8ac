"""A mirror pass SIGKILLed in the middle (the real `mailferry copy --mirror` process), then
run again: the target ends equal to the source, nothing removed twice or wrongly, nothing
copied twice. The kill points are chosen in the target's byte stream: a proxy holds it right
before the tagged OK of a MOVE, a COPY or an EXPUNGE, so the server did it and mailferry
never heard; then the process is killed."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, FaultProxy, SeedMessage, imap_login, seed
from testbed.messages import make_message
from testbed.mirrorkit import MAILFERRY, Client, assert_mirrored

pytestmark = pytest.mark.slow  # mirror passes killed at each step: `make test-slow`


def _prepare(source: Dovecot, target_port: int, state: Path) -> None:
    rng = random.Random(5)
    conn = imap_login(source.host, source.port, "alice", source.password())
    try:
        seed(conn, [SeedMessage(make_message(rng, n, size=1500), "INBOX" if n < 30 else "Work",
                                ("\\Seen",), dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
                                + dt.timedelta(days=n)) for n in range(40)])
    finally:
        conn.logout()
    # one folder at a time, so INBOX is recorded before Work: a pass acts on folders in the
    # order of their state rows, and the kill points below are meant to come after INBOX's
    # removals were announced (with folders recorded in parallel, Work's COPY came first
    # now and then, and the killed run had announced nothing)
    first = _copy(source, target_port, state, "--workers", "1")
    assert first.returncode == 0, first.stderr
    with Client(source) as user:
        inbox = user.uids("INBOX")
        user.move("INBOX", inbox[:6], "Archive")
        user.delete("INBOX", inbox[6:10])
        user.move("Work", user.uids("Work")[:2], "INBOX")


def _copy(source: Dovecot, target_port: int, state: Path, *args: str,
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(source, target_port, state, *args), capture_output=True,
                          text=True, env=_env(source), timeout=300, stdin=subprocess.DEVNULL)


def _command(source: Dovecot, target_port: int, state: Path, *args: str) -> list[str]:
    return [*MAILFERRY, "copy", source.url(), f"imap://alice@127.0.0.1:{target_port}",
            "--state", str(state), "--mirror", "--json", *args]


def _env(source: Dovecot) -> dict[str, str]:
    # both servers were started with the same user and password
    return {**os.environ, "MAILFERRY_SOURCE_PASSWORD": source.password(),
            "MAILFERRY_TARGET_PASSWORD": source.password()}


def _kill_at(source: Dovecot, proxy: FaultProxy, state: Path, marker: bytes, log: Path,
             ) -> None:
    hold = proxy.hold_down_at(marker, 1)
    with subprocess.Popen(_command(source, proxy.port, state, "--log-file", str(log)),
                          env=_env(source), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as process:
        try:
            deadline = time.monotonic() + 120
            while not hold.reached.is_set():
                assert process.poll() is None, "the pass ended before the kill point"
                assert time.monotonic() < deadline, "the kill point was never reached"
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            hold.release()
        assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize(("without", "marker"), [
    ((), b" OK Move completed"),
    ((), b" OK Expunge completed"),
    (("MOVE",), b"] Copy completed"),
    (("MOVE",), b" OK Expunge completed"),
], ids=["move", "expunge", "no-move-copy", "no-move-expunge"])
def test_killed_mid_pass_then_run_again(dovecot_factory: Callable[..., Dovecot],
                                        tmp_path: Path, without: tuple[str, ...],
                                        marker: bytes) -> None:
    source = dovecot_factory()
    target = dovecot_factory(without_capabilities=without)
    state = tmp_path / "state.db"
    log = tmp_path / "killed.log"
    # every run through the proxy: the state knows the target by its address
    with FaultProxy(target.host, target.port) as proxy:
        _prepare(source, proxy.port, state)
        _kill_at(source, proxy, state, marker, log)
        again = _copy(source, proxy.port, state)
        third = _copy(source, proxy.port, state)  # and once more: nothing left to do

    assert again.returncode == 0, again.stdout + again.stderr
    mirror = json.loads(again.stdout)["mirror"]
    assert json.loads(again.stdout)["totals"]["copied"] == 0, "a message was transferred twice"
    assert_mirrored(source, target)
    # every removal in a log or a report: the killed run logged each one before its command;
    # what the killed run had removed is not removed (nor listed) again
    logged = set(re.findall(r"removing INBOX: Message-ID (<[^>]*>)", log.read_text()))
    again_removed = {a["message_id"] for a in mirror["actions"] if a["action"] == "removed"}
    assert len(logged) == 4 and again_removed <= logged
    assert len(again_removed) == (0 if b"Expunge" in marker else 4)
    assert third.returncode == 0 and json.loads(third.stdout)["mirror"]["actions"] == []
    assert_mirrored(source, target)
