"""What the relay refuses, with which codes, and that it keeps serving afterwards."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, free_port
from testbed.dovecot import shared_certs
from testbed.relaykit import (
    RelayThread,
    count,
    fetch_all,
    load,
    message,
    send,
    wait_until,
    write_config,
)


def _config(tmp_path: Path, extra: str = "") -> Path:
    # upstreams are closed ports: nothing here needs a delivery to succeed
    return write_config(tmp_path, old_port=free_port(), new_port=free_port(), extra=extra)


def _spooled(tmp_path: Path) -> int:
    return len(list((tmp_path / "spool" / "msg").glob("*.msg")))


def test_not_an_open_relay(tmp_path: Path, run_relay: Callable[..., RelayThread]) -> None:
    relay = run_relay(load(_config(tmp_path)))
    with smtplib.SMTP("127.0.0.1", relay.port) as client:
        client.ehlo("client.example")
        assert client.mail("sender@outside.example")[0] == 250
        for foreign in ("victim@outside.example", "alice@bank.example.evil.example",
                        "alice@sub.bank.example", "@bank.example", "alice"):
            code, text = client.rcpt(foreign)
            assert code in (550, 553), (foreign, code, text)
        assert client.rcpt("alice@BANK.example")[0] == 250  # domains are case-insensitive
        client.rset()
        assert client.mail("sender@outside.example")[0] == 250
        assert client.rcpt("victim@outside.example")[0] == 550
        assert client.docmd("DATA")[0] == 503  # no accepted recipient: no data
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(relay.port, ["victim@outside.example"], message(1))
    assert send(relay.port, ["alice@bank.example"], message(2)) == {}
    assert relay.stop().accepted == 1


def test_oversize_is_refused_with_552(tmp_path: Path, run_relay: Callable[..., RelayThread]
                                      ) -> None:
    relay = run_relay(load(_config(tmp_path, "max_message_size = 10000\n")))
    with smtplib.SMTP("127.0.0.1", relay.port) as client:
        client.ehlo("client.example")
        assert client.esmtp_features["size"] == "10000"
        assert client.docmd("MAIL FROM:<s@outside.example> SIZE=20000")[0] == 552  # declared
        assert client.mail("s@outside.example")[0] == 250  # undeclared: counted during DATA
        assert client.rcpt("alice@bank.example")[0] == 250
        assert client.data(message(1, size=20000))[0] == 552
        assert client.noop()[0] == 250  # the session goes on
    assert send(relay.port, ["alice@bank.example"], message(2, size=5000)) == {}
    assert relay.stop().accepted == 1
    assert _spooled(tmp_path) == 1


def test_malformed_commands_get_5xx_and_the_session_goes_on(
    tmp_path: Path, run_relay: Callable[..., RelayThread]
) -> None:
    relay = run_relay(load(_config(tmp_path)))
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        stream = sock.makefile("rwb")

        def say(line: bytes) -> int:
            stream.write(line + b"\r\n")
            stream.flush()
            while True:
                reply = stream.readline()
                if reply[3:4] != b"-":
                    return int(reply[:3])

        assert stream.readline().startswith(b"220")
        assert say(b"HELO") == 501
        assert say(b"EHLO client.example") == 250
        assert say(b"FROBNICATE now") == 500
        assert say(b"RCPT TO:<alice@bank.example>") == 503  # before MAIL
        assert say(b"MAIL TO:<s@outside.example>") == 501
        assert say(b"MAIL FROM:<not closed") == 553
        assert say(b"DATA") == 503
        assert say(b"MAIL FROM:<s@outside.example>") == 250
        assert say(b"MAIL FROM:<s@outside.example>") == 503  # nested MAIL
        assert say(b"RCPT TO:<alice@bank.example> FOO=BAR") in (250, 555)
        assert say(b"RCPT TO:<bob@bank.example>") == 250
        assert say(b"DATA") == 354
        assert say(b"Subject: still served\r\n\r\n..leading dot\r\n.") == 250
        assert say(b"QUIT") == 221
    relay.stop()
    assert _spooled(tmp_path) == 1
    raw = next((tmp_path / "spool" / "msg").glob("*.msg")).read_bytes()
    assert raw.endswith(b"Subject: still served\r\n\r\n.leading dot\r\n")  # dot unstuffed


def test_per_client_connection_limit(tmp_path: Path, run_relay: Callable[..., RelayThread]
                                     ) -> None:
    relay = run_relay(load(_config(tmp_path, "max_connections_per_client = 2\n")))
    first = smtplib.SMTP("127.0.0.1", relay.port)
    second = smtplib.SMTP("127.0.0.1", relay.port)
    try:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", relay.port)
        assert refused.value.smtp_code == 421
        assert second.noop()[0] == 250
    finally:
        second.quit()

    def admitted_again() -> bool:  # once the relay has seen the QUIT'ed connection go
        try:
            return smtplib.SMTP("127.0.0.1", relay.port).quit()[0] == 221
        except smtplib.SMTPConnectError:
            return False

    wait_until(admitted_again, timeout=5)
    first.quit()


def test_auth_required_when_users_are_configured(
    tmp_path: Path, old: Dovecot, new: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    (tmp_path / "relay-users").write_text("# gateway accounts\nmx-gateway:s3cret pass\n")
    config = write_config(tmp_path, old_port=old.lmtp_port, new_port=new.lmtp_port,
                          extra='auth_users = "relay-users"\n')
    relay = run_relay(load(config))
    with smtplib.SMTP("127.0.0.1", relay.port) as client:
        client.ehlo("client.example")
        assert "auth" in client.esmtp_features
        assert client.docmd("MAIL FROM:<s@outside.example>")[0] == 530
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("mx-gateway", "wrong")
        client.login("mx-gateway", "s3cret pass")
        assert client.sendmail("s@outside.example", ["carol@bank.example"], message(1)) == {}
    wait_until(lambda: count(old, "carol") == 1)
    assert b"(mailferry) with ESMTPA id " in fetch_all(old, "carol")[0]


def test_starttls_offered_to_clients_when_configured(
    tmp_path: Path, run_relay: Callable[..., RelayThread]
) -> None:
    certs = shared_certs()
    relay = run_relay(load(_config(
        tmp_path, f'tls_cert = "{certs.server_cert}"\ntls_key = "{certs.server_key}"\n')))
    with smtplib.SMTP("127.0.0.1", relay.port) as client:
        client.ehlo("client.example")
        assert "starttls" in client.esmtp_features
        client.starttls(context=ssl.create_default_context(cafile=str(certs.ca_cert)))
        client.ehlo("client.example")
        assert client.sendmail("s@outside.example", ["alice@bank.example"], message(1)) == {}
    relay.stop()
    [spooled] = (tmp_path / "spool" / "msg").glob("*.msg")
    assert b"(mailferry) with ESMTPS id " in spooled.read_bytes()
