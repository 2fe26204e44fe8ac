"""End to end: clients -> relay -> two real Dovecot servers over LMTP -> read back over IMAP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot
from testbed.corpus import corpus_files
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


def test_routes_send_each_recipient_to_old_new_or_both_byte_identical(
    tmp_path: Path, old: Dovecot, new: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=new.lmtp_port,
                          routes="address,route\nalice@bank.example,both\nBob@Bank.example,new\n")
    relay = run_relay(load(config))
    raw = message(1, size=3000)
    assert send(relay.port, ["alice@bank.example", "bob@bank.example", "carol@bank.example"],
                raw) == {}
    wait_until(lambda: count(old, "alice") == 1 and count(new, "alice") == 1
               and count(new, "bob") == 1 and count(old, "carol") == 1)
    for server, user in ((old, "alice"), (new, "alice"), (new, "bob"), (old, "carol")):
        assert [relayed_part(m) for m in fetch_all(server, user)] == [raw]
    metrics = relay.stop()
    assert (count(old, "bob"), count(new, "carol")) == (0, 0)
    assert metrics.accepted == 1
    assert metrics.delivered == {"old": 2, "new": 2}
    assert not list((tmp_path / "spool" / "msg").iterdir()), "delivered messages stay spooled"


def test_realworld_corpus_relays_byte_identical(
    tmp_path: Path, old: Dovecot, new: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=new.lmtp_port,
                          )
    relay = run_relay(load(config))
    # a spread of sources, malformed ones included; a missing corpus fails loudly
    files = corpus_files()[::25]
    sent = []
    for path in files:
        # an SMTP client sends lines ending CRLF; everything else is kept as is
        raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not raw.endswith(b"\r\n"):
            raw += b"\r\n"
        send(relay.port, ["alice@bank.example"], raw)
        sent.append(raw)
    wait_until(lambda: count(old, "alice") == len(sent))
    # four delivery connections: arrival order at the upstream is not sending order
    assert sorted(relayed_part(m) for m in fetch_all(old, "alice")) == sorted(sent)
