"""kill -9 soak: the relay, its delivery process, and both, killed again and again under load.

~2,000 messages from 20 concurrent clients, routes both/new/old, two real Dovecot LMTP
upstreams; "new" is down until the relay restart at NEW_BACK_AT, so that many "both"
messages are half done through several restarts. Nothing accepted is lost; the only
duplicates are deliveries that were on the wire at a kill (a "try" the journal holds
without an outcome, counted right after each kill), and each is logged as a possible
duplicate.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from testbed import Dovecot, free_port
from testbed.relaykit import RelayProcess, SenderLoad, count, message_ids, wait_until, write_config

pytestmark = pytest.mark.slow  # a kill -9 soak: `make test-slow`

CLIENTS = 20
PER_CLIENT = 100
ROUTES = {"alice": ("old", "new"), "bob": ("new",), "carol": ("old",)}  # both, new, old
# (accepted so far, what to kill)
KILLS = [(250, "delivery"), (500, "relay"), (750, "both"), (1000, "delivery"),
         (1250, "relay"), (1500, "both"), (1750, "delivery")]
NEW_BACK_AT = 1250


def cut_deliveries(journal: Path) -> int:
    """(message, upstream) pairs whose last journal record is a "try": on the wire."""
    last: dict[tuple[str, str], str] = {}
    for line in journal.read_bytes().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        last[(record["id"], record["up"])] = record["ev"]
    return sum(1 for event in last.values() if event == "try")


def _delivery_pid(spool: Path) -> int:
    return int(json.loads((spool / "delivery-status.json").read_text())["pid"])


def test_kill_9_soak_loses_nothing_and_logs_every_possible_duplicate(
    tmp_path: Path, old: Dovecot, new: Dovecot
) -> None:
    port = free_port()
    spool = tmp_path / "spool"
    new_down = free_port()  # nothing listens there
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=new_down,
                          listen=f"127.0.0.1:{port}",
                          routes="alice@bank.example,both\nbob@bank.example,new\n")
    config.write_text(config.read_text().replace("retry_max = 1\n", "retry_max = 3\n"))
    relay = RelayProcess(config, port).start()
    load = SenderLoad(port, CLIENTS, PER_CLIENT, list(ROUTES), tag="s", size=1500,
                      attempts=200)
    accepted = load.accepted  # Message-ID -> user, for every 250
    on_the_wire = 0  # deliveries cut by the kills
    try:
        load.start()
        for at, victim in KILLS:
            wait_until(lambda at=at: len(accepted) >= at, timeout=120, step=0.01)
            delivery_pid = _delivery_pid(spool)
            if victim in ("relay", "both"):
                relay.kill()
            if victim in ("delivery", "both"):
                os.kill(delivery_pid, signal.SIGKILL)
                wait_until(lambda pid=delivery_pid: not _alive(pid), timeout=10)
                on_the_wire += cut_deliveries(spool / "journal")  # before anyone recovers
            if at == NEW_BACK_AT:  # "new" is back, and the restarted relay knows it
                config.write_text(config.read_text().replace(str(new_down),
                                                             str(new.lmtp_port)))
            if victim in ("relay", "both"):
                relay.start()
            # the next kill finds a delivery process that has recovered this one
            wait_until(lambda pid=delivery_pid: _delivery_pid(spool) != pid, timeout=150)
        load.join(180)
        assert len(accepted) == CLIENTS * PER_CLIENT
        servers = {"old": old, "new": new}
        expected = {(upstream, user): {mid for mid, u in accepted.items() if u == user}
                    for user, upstreams in ROUTES.items() for upstream in upstreams}
        # counts first (cheap), then every Message-ID (a duplicate also adds to a count)
        wait_until(lambda: all(count(servers[up], user) >= len(ids)
                               for (up, user), ids in expected.items()), timeout=180, step=0.5)
        wait_until(lambda: all(ids <= set(message_ids(servers[up], user))
                               for (up, user), ids in expected.items()), timeout=60, step=0.5)
        relay.signal(signal.SIGTERM)
        assert relay.wait(90) == 0
    finally:
        load.stop.set()
        relay.kill()
    duplicates = 0
    for user, upstreams in ROUTES.items():
        for name, server in servers.items():
            seen = Counter(message_ids(server, user))
            wanted = {mid for mid, u in accepted.items() if u == user}
            if name in upstreams:
                assert wanted <= set(seen), f"lost on {name}: {len(wanted - set(seen))}"
            else:
                assert not seen, f"{user} must not get mail on {name}"
            duplicates += sum(c - 1 for c in seen.values())
    logged = relay.log_path.read_text().count("possible duplicate: spool ")
    print(f"kill -9 soak: {len(accepted)} accepted, {len(KILLS)} kills, {on_the_wire} "
          f"deliveries on the wire at the kills, {logged} logged, {duplicates} duplicates")
    assert duplicates <= on_the_wire
    assert logged >= duplicates


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
