"""Exactly once across restarts: a delivery that succeeded is never made again.

Real processes (`mailferry relay`), real upstreams: the test bed's SMTP sink as "old",
Dovecot LMTP as "new", each message read back from the servers.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from mailferry.relay import load_state
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

MESSAGES = 10
RESTARTS = 3


def test_finished_half_of_a_both_delivery_survives_sigterm_restarts(
    tmp_path: Path, new: Dovecot
) -> None:
    """route=both, "new" down: "old" gets each message once, and never again however often
    the relay restarts (the journal is compacted at each start); then "new" comes back
    and gets each message once."""
    port = free_port()
    with SmtpSink() as old, FaultProxy("127.0.0.1", free_port()) as new_door:
        config = both_to_sink_and_door(tmp_path, old, new_door.port, port)
        relay = RelayProcess(config, port).start()
        try:
            wanted = {f"<restart-{n}@test.example>" for n in range(MESSAGES)}
            for n in range(MESSAGES):
                assert send(port, ["alice@bank.example"], message(n, tag="restart")) == {}
            wait_until(lambda: len(old.received) >= MESSAGES)
            for _ in range(RESTARTS):
                before = _delivery_status(tmp_path).get("pid")
                relay.signal(signal.SIGTERM)
                assert relay.wait() == 0
                relay.start()
                # the new delivery process has tried every delivery it recovered: a
                # forgotten "old" one would have gone out in the same round
                wait_until(lambda previous=before: _delivery_status(tmp_path).get("pid")
                           not in (None, previous)
                           and _delivery_status(tmp_path)["metrics"]["deferred"] >= MESSAGES)
            assert sink_ids(old) == Counter(dict.fromkeys(wanted, 1))
            new_door.upstream = ("127.0.0.1", new.lmtp_port)  # "new" is back
            assert mailferry("relay", "flush", str(config)).returncode == 0
            wait_until(lambda: len(message_ids(new, "alice")) >= MESSAGES)
            wait_until(lambda: load_state(tmp_path / "spool") == {})
            relay.signal(signal.SIGTERM)
            assert relay.wait() == 0
        finally:
            relay.kill()
        assert sink_ids(old) == Counter(dict.fromkeys(wanted, 1))
        assert Counter(message_ids(new, "alice")) == Counter(dict.fromkeys(wanted, 1))
    assert "Traceback" not in relay.log_path.read_text()


def _delivery_status(directory: Path) -> dict[str, Any]:
    try:
        status = json.loads((directory / "spool" / "delivery-status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}
