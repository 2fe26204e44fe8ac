"""Memory for messages in flight is bounded: the peak RSS of the relay's two processes
stays within the bound README states, however large the messages."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from testbed import Dovecot, free_port
from testbed.relaykit import RelayProcess, count, send, wait_until, write_config

CLIENTS = 16
MESSAGE_MB = 6
# README, relay section: "at most 40 MB + 0.5 MB per connection receiving data" for the
# SMTP process, "at most 40 MB" for the delivery process
BASE_MB = 40.0
PER_CONNECTION_MB = 0.5


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def _big(n: int) -> bytes:
    line = b"%-996d\r\n" % n  # long lines, as many as an attachment's bytes need
    return (b"From: big@outside.example\r\nTo: alice@bank.example\r\nSubject: big %d\r\n"
            b"Message-ID: <big-%d@test.example>\r\n\r\n" % (n, n)
            + line * (MESSAGE_MB * 1024 * 1024 // len(line)))


def test_peak_rss_stays_within_the_stated_bound_with_large_messages_from_many_clients(
    tmp_path: Path, old: Dovecot
) -> None:
    port = free_port()
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=free_port(),
                          listen=f"127.0.0.1:{port}")
    relay = RelayProcess(config, port).start()
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            assert send(port, ["alice@bank.example"], _big(n)) == {}
        except BaseException as exc:  # handed to the test below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert not errors, errors
        wait_until(lambda: count(old, "alice") == CLIENTS, timeout=120)
        assert relay.process is not None
        smtp_side = _peak_rss_mb(relay.process.pid)
        delivery_pid = json.loads((tmp_path / "spool" / "delivery-status.json").read_text())[
            "pid"]
        delivery_side = _peak_rss_mb(delivery_pid)
    finally:
        relay.kill()
    print(f"peak RSS with {CLIENTS} x {MESSAGE_MB} MB at once: SMTP process {smtp_side:.1f} "
          f"MB, delivery process {delivery_side:.1f} MB")
    assert smtp_side <= BASE_MB + PER_CONNECTION_MB * CLIENTS
    assert delivery_side <= BASE_MB
