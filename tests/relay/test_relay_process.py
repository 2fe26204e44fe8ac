"""`mailferry relay` as a real process: exit codes, signals, queue/status/flush, kill -9."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from testbed import Dovecot, free_port
from testbed.relaykit import (
    RelayProcess,
    SenderLoad,
    count,
    mailferry,
    message,
    message_ids,
    send,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.slow  # relay processes killed under load: `make test-slow`


def test_bad_config_and_bad_routes_exit_2_naming_file_and_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, old_port=24001, new_port=24002)
    config.write_text(config.read_text().replace("lmtp://127.0.0.1:24001", "lmtp://[bad"))
    result = mailferry("relay", str(config))
    assert result.returncode == 2
    assert f"{config}:5: [relay] old" in result.stderr
    config = write_config(tmp_path, old_port=24001, new_port=24002,
                          routes="address,route\nalice@bank.example,both\nbob,new\n")
    result = mailferry("relay", str(config))
    assert result.returncode == 2
    assert f"{tmp_path / 'routes.csv'}:3: address" in result.stderr
    assert mailferry("relay", str(tmp_path / "missing.toml")).returncode == 2


def test_issue_example_runs_and_stops_on_sigterm_with_queue_status_and_flush(
    tmp_path: Path, old: Dovecot, new: Dovecot
) -> None:
    port = free_port()
    (tmp_path / "routes.csv").write_text("alice@bank.example,both\n")
    # the issue's example, on this test's ports, run from its directory without arguments
    (tmp_path / "migration.toml").write_text(f"""\
[relay]
listen = "127.0.0.1:{port}"
spool = "./spool"
domains = ["bank.example"]
old = "lmtp://127.0.0.1:{old.lmtp_port}"          # smtp://host:port, smtps://…, lmtp://host:port
new = "lmtp://127.0.0.1:{free_port()}"
default_route = "old"
routes = "routes.csv"                    # address,route   with route one of old, new, both
""")
    relay = RelayProcess(tmp_path / "migration.toml", port).start()
    try:
        send(port, ["alice@bank.example"], message(1, tag="cli"))
        wait_until(lambda: count(old, "alice") == 1)
        wait_until(lambda: "Connect call failed" in mailferry("relay", "queue", cwd=tmp_path)
                   .stdout, timeout=10)
        rows = json.loads(mailferry("relay", "queue", "--json", cwd=tmp_path).stdout)
        assert [(r["upstream"], r["recipients"]) for r in rows] == [
            ("new", ["alice@bank.example"])]
        assert rows[0]["attempts"] >= 1 and rows[0]["last_error"]
        assert mailferry("relay", "flush", cwd=tmp_path).returncode == 0
        (tmp_path / "routes.csv").write_text("bob@bank.example,new\n")
        relay.signal(signal.SIGHUP)
        wait_until(lambda: "routes reloaded" in relay.log_path.read_text(), timeout=10)
        wait_until(lambda: json.loads(mailferry("relay", "status", "--json", cwd=tmp_path)
                                      .stdout)["metrics"].get("accepted") == 1, timeout=10)
        relay.signal(signal.SIGTERM)
        assert relay.wait() == 0
    finally:
        relay.kill()
    log = relay.log_path.read_text()
    assert "relay stopped" in log and "Traceback" not in log
    status = json.loads(mailferry("relay", "status", "--json", cwd=tmp_path).stdout)
    assert status["running"] is False
    assert status["metrics"]["delivered"] == {"old": 1}
    assert status["pending"] == {"old": 0, "new": 1}
    assert mailferry("relay", "flush", cwd=tmp_path).returncode == 1  # nothing to ask


CLIENTS = 10
PER_CLIENT = 100
ROUTES = {"alice": ("old", "new"), "bob": ("new",), "carol": ("old",)}  # both, new, old


@pytest.mark.parametrize("victim", ["relay", "delivery"])
def test_kill_9_under_load_loses_nothing_and_counts_duplicates(
    tmp_path: Path, old: Dovecot, new: Dovecot, victim: str
) -> None:
    """SIGKILL the relay (the process users start) or its delivery process mid-load.

    Killing the relay leaves its delivery process to finish the attempts in progress, so
    no delivery is cut: zero duplicates. Killing the delivery process itself can cut an
    attempt after the upstream stored the message and before the journal says so; those
    (at most upstream_connections per upstream) are retried and counted."""
    port = free_port()
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=new.lmtp_port,
                          listen=f"127.0.0.1:{port}",
                          routes="alice@bank.example,both\nbob@bank.example,new\n")
    relay = RelayProcess(config, port).start()
    load = SenderLoad(port, CLIENTS, PER_CLIENT, list(ROUTES))
    accepted = load.accepted  # Message-ID -> user, for every 250
    try:
        load.start()
        wait_until(lambda: len(accepted) >= 400, timeout=60, step=0.01)
        delivery_pid = json.loads((tmp_path / "spool" / "delivery-status.json").read_text())[
            "pid"]
        pending_at_kill = len(list((tmp_path / "spool" / "msg").iterdir()))
        if victim == "relay":
            relay.kill()  # SIGKILL mid-load: accepting and delivering
            relay.start()
        else:
            os.kill(delivery_pid, signal.SIGKILL)  # the relay starts another one
        load.join(120)
        expected = {(upstream, user): sum(1 for u in accepted.values() if u == user)
                    for user, upstreams in ROUTES.items() for upstream in upstreams}
        servers = {"old": old, "new": new}
        wait_until(lambda: all(count(servers[up], user) >= n
                               for (up, user), n in expected.items()), timeout=90, step=0.5)
        relay.signal(signal.SIGTERM)
        assert relay.wait() == 0
    finally:
        load.stop.set()
        relay.kill()
    # the killed relay's delivery process finished its attempts and left by itself
    wait_until(lambda: not _alive(delivery_pid), timeout=10)
    assert pending_at_kill > 0, "the kill must hit deliveries in progress"
    assert len(accepted) == CLIENTS * PER_CLIENT
    duplicates = 0
    for user, upstreams in ROUTES.items():
        for name, server in (("old", old), ("new", new)):
            seen = Counter(message_ids(server, user))
            wanted = {mid for mid, u in accepted.items() if u == user}
            if name in upstreams:
                assert wanted <= set(seen), f"lost on {name}: {len(wanted - set(seen))}"
            else:
                assert not seen, f"{user} must not get mail on {name}"
            duplicates += sum(c - 1 for c in seen.values())
    status = json.loads((tmp_path / "spool" / "status.json").read_text())
    in_flight = status["metrics"]["possible_duplicates"]
    print(f"kill -9 of the {victim} process: {len(accepted)} accepted, {pending_at_kill} "
          f"pending, {duplicates} duplicates, {in_flight} deliveries cut")
    assert duplicates <= in_flight  # only a delivery cut mid-transaction may repeat
    if victim == "relay":
        assert duplicates == in_flight == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
