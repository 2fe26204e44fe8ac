"""A full disk is survived, not just refused: the spool on a small tmpfs of its own.

While the disk is full the relay answers 451, keeps running (no restart: the same
processes throughout), removes what it could not finish writing, and once space returns
every message it had accepted reaches each upstream exactly once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import smtplib
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import Dovecot, FaultProxy, free_port
from testbed.relaykit import (
    RelayProcess,
    both_to_sink_and_door,
    mailferry,
    message,
    message_ids,
    send,
    sink_ids,
    wait_until,
)
from testbed.smtp_sink import SmtpSink

TMPFS_SIZE = "4m"
PENDING = 30
BIG = b"Subject: bigger than the disk\r\n\r\n" + (b"x" * 998 + b"\r\n") * 5000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the spool needs root")
    spool = tmp_path / "spool"
    spool.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs",
                              str(spool)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield spool
    finally:
        subprocess.run(["umount", "-l", str(spool)], check=False)


def fill(path: Path) -> None:
    """Write `path` until the filesystem has no byte left."""
    chunk = b"x" * 65536
    with open(path, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        for size in (4096, 512, 64, 1):  # the last pages too
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"x" * size)


def test_full_spool_answers_451_keeps_running_and_delivers_everything_once_space_returns(
    tmp_path: Path, small_disk: Path, new: Dovecot
) -> None:
    port = free_port()
    with SmtpSink() as old, FaultProxy("127.0.0.1", free_port()) as new_door:
        config = both_to_sink_and_door(tmp_path, old, new_door.port, port)
        relay = RelayProcess(config, port).start()
        try:
            # 1. a message bigger than the disk: 451, and its half-written file is gone
            with pytest.raises(smtplib.SMTPDataError) as refused:
                send(port, ["alice@bank.example"], BIG)
            assert refused.value.smtp_code == 451
            assert list((small_disk / "tmp").iterdir()) == []
            # 2. accepted while "new" is down: delivered to "old", pending for "new"
            wanted = {f"<full-{n}@test.example>" for n in range(PENDING)}
            for n in range(PENDING):
                assert send(port, ["alice@bank.example"], message(n, tag="full")) == {}
            wait_until(lambda: len(old.received) == PENDING)
            # (written every 0.2 s; its first write may have met the full disk of step 1)
            wait_until(lambda: (small_disk / "delivery-status.json").exists())
            delivery_pid = json.loads((small_disk / "delivery-status.json").read_text())["pid"]
            # 3. the disk fills up: new mail gets 451; "new" comes back meanwhile, but
            # its deliveries cannot be journalled, so they wait
            fill(small_disk / "filler")
            with pytest.raises(smtplib.SMTPDataError) as refused:
                send(port, ["alice@bank.example"], message(99, tag="while-full"))
            assert refused.value.smtp_code == 451
            wait_until(lambda: "spool journal not writable" in relay.log_path.read_text())
            new_door.upstream = ("127.0.0.1", new.lmtp_port)
            assert mailferry("relay", "flush", str(config)).returncode == 0
            wait_until(lambda: "deliveries wait" in relay.log_path.read_text())
            assert message_ids(new, "alice") == []  # no "try" in the journal, no delivery
            # 4. space returns: everything arrives once, with the same processes
            (small_disk / "filler").unlink()
            assert send(port, ["alice@bank.example"], message(100, tag="after")) == {}
            wanted_new = wanted | {"<after-100@test.example>"}
            wait_until(lambda: len(message_ids(new, "alice")) >= len(wanted_new), timeout=60)
            wait_until(lambda: len(old.received) >= len(wanted_new))
            assert relay.process is not None and relay.process.poll() is None
            status = json.loads((small_disk / "delivery-status.json").read_text())
            assert status["pid"] == delivery_pid  # the delivery process never restarted
        finally:
            relay.kill()
        assert sink_ids(old) == Counter(dict.fromkeys(wanted_new, 1))
        assert Counter(message_ids(new, "alice")) == Counter(dict.fromkeys(wanted_new, 1))
    log = relay.log_path.read_text()
    assert "Traceback" not in log and "delivery process exited" not in log
    assert log.count("spool journal not writable: [Errno") == 1  # once, not per attempt
