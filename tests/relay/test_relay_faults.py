"""Upstreams that are down, refuse recipients, or never come back; routes that change."""

from __future__ import annotations

import email
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailferry.relay import load_state
from testbed import Dovecot, FaultProxy, free_port
from testbed.relaykit import (
    RelayThread,
    count,
    fetch_all,
    load,
    message,
    relayed_part,
    send,
    wait_until,
    write_config,
)


def test_upstream_down_for_a_while_gets_everything_once_it_returns(
    tmp_path: Path, old: Dovecot, new: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    # the new system is "down": its address leads to a closed port until we re-point it
    with FaultProxy("127.0.0.1", free_port()) as proxy:
        config = write_config(tmp_path, old_port=old.lmtp_port, new_port=proxy.port,
                              routes="alice@bank.example,both\n")
        relay = run_relay(load(config))
        sent = [message(n, tag="down") for n in range(5)]
        for raw in sent:
            assert send(relay.port, ["alice@bank.example"], raw) == {}
        wait_until(lambda: count(old, "alice") == 5)
        wait_until(lambda: relay.relay.status()["metrics"]["deferred"] >= 5)

        def left() -> list[Any]:
            return [d for m in load_state(tmp_path / "spool").values()
                    for d in m.deliveries.values()]

        # Dovecot stores a copy a moment before the relay records that delivery done
        wait_until(lambda: {d.upstream for d in left()} == {"new"})
        pending = left()
        assert len(pending) == 5
        assert all(d.last_error and d.attempts >= 1 for d in pending)
        assert count(new, "alice") == 0
        proxy.upstream = ("127.0.0.1", new.lmtp_port)  # the new system is back
        relay.relay.flush()
        wait_until(lambda: count(new, "alice") == 5)
        metrics = relay.stop()
    for server in (old, new):
        assert sorted(relayed_part(m) for m in fetch_all(server, "alice")) == sorted(sent)
    assert metrics.delivered == {"old": 5, "new": 5}
    assert load_state(tmp_path / "spool") == {}


def test_recipient_refused_by_upstream_bounces_a_dsn_to_the_sender(
    tmp_path: Path, old: Dovecot, new: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=new.lmtp_port)
    relay = run_relay(load(config))
    raw = message(1, tag="bounce")
    # dave has no mailbox upstream (550 from LMTP); carol has one; the sender is local
    assert send(relay.port, ["dave@bank.example", "carol@bank.example"], raw,
                mail_from="bob@bank.example") == {}
    wait_until(lambda: count(old, "bob") == 1 and count(old, "carol") == 1)
    dsn = email.message_from_bytes(fetch_all(old, "bob")[0])
    assert dsn.get_content_type() == "multipart/report"
    status = next(p for p in dsn.walk() if p.get_content_type() == "message/delivery-status")
    text = status.as_string()
    assert "Final-Recipient: rfc822; dave@bank.example" in text
    assert "Status: 5.1.1" in text
    assert b"Message-ID: <bounce-1@test.example>" in fetch_all(old, "bob")[0]
    assert relayed_part(fetch_all(old, "carol")[0]) == raw
    metrics = relay.stop()
    assert metrics.bounced == 1


def test_message_older_than_max_age_bounces(
    tmp_path: Path, old: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=free_port(),
                          routes="alice@bank.example,new\n", extra="max_age = 1\n")
    relay = run_relay(load(config))
    assert send(relay.port, ["alice@bank.example"], message(1), mail_from="bob@bank.example") == {}
    wait_until(lambda: count(old, "bob") == 1)
    dsn = fetch_all(old, "bob")[0]
    assert b"Status: 4.4.7" in dsn and b"alice@bank.example" in dsn
    assert relay.stop().bounced == 1
    assert load_state(tmp_path / "spool") == {}


def test_routes_file_is_reloaded_when_it_changes_and_a_bad_edit_is_ignored(
    tmp_path: Path, old: Dovecot, new: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=new.lmtp_port,
                          routes="alice@bank.example,old\n")
    relay = run_relay(load(config))
    send(relay.port, ["alice@bank.example"], message(1, tag="before"))
    (tmp_path / "routes.csv").write_text("address,route\nalice@bank.example,both\n")
    wait_until(lambda: relay.relay.routes.table.route_for("alice@bank.example") == "both")
    send(relay.port, ["alice@bank.example"], message(2, tag="after"))
    (tmp_path / "routes.csv").write_text("alice@bank.example,nowhere\n")
    time.sleep(2.5)  # a reload check or two: the broken table must not replace the good one
    assert relay.relay.routes.table.route_for("alice@bank.example") == "both"
    send(relay.port, ["alice@bank.example"], message(3, tag="broken"))
    wait_until(lambda: count(old, "alice") == 3 and count(new, "alice") == 2)
    assert [b"after-2" in m or b"broken-3" in m for m in fetch_all(new, "alice")] == [True, True]


def test_a_pending_dsn_survives_a_restart(
    tmp_path: Path, old: Dovecot, new: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    """dave has no mailbox on "old" (550): the DSN to bob goes to "new", which is down
    until after a restart of the relay."""
    with FaultProxy("127.0.0.1", free_port()) as new_door:
        config = write_config(tmp_path, old_port=old.lmtp_port, new_port=new_door.port,
                              routes="bob@bank.example,new\n")
        relay = run_relay(load(config))
        assert send(relay.port, ["dave@bank.example"], message(1, tag="lost"),
                    mail_from="bob@bank.example") == {}
        wait_until(lambda: any(m.is_bounce for m in load_state(tmp_path / "spool").values()))
        relay.stop()
        new_door.upstream = ("127.0.0.1", new.lmtp_port)
        relay = run_relay(load(config))
        wait_until(lambda: count(new, "bob") == 1)
        relay.stop()
    assert b"Final-Recipient: rfc822; dave@bank.example" in fetch_all(new, "bob")[0]
    assert load_state(tmp_path / "spool") == {}
