"""A hostile sender: smuggling, header injection, source routing, password guessing and
connections that trickle. Each test speaks SMTP over real sockets to a real relay in front
of the test bed's SMTP sink, and asserts what the upstream holds."""

from __future__ import annotations

import base64
import contextlib
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed import Dovecot, free_port
from testbed.relaykit import RelayThread, fetch_all, load, message, send, wait_until, write_config
from testbed.smtp_sink import SmtpSink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as started:
        yield started


def _relay(tmp_path: Path, sink: SmtpSink, run_relay: Callable[..., RelayThread],
           extra: str = "") -> RelayThread:
    config = write_config(tmp_path, old_url=f"smtp://127.0.0.1:{sink.port}",
                          new_url=f"smtp://127.0.0.1:{free_port()}", extra=extra)
    return run_relay(load(config))


class Wire:
    """A raw SMTP conversation: what smtplib would never send."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                             source_address=(source, 0))
        self.stream = self.sock.makefile("rwb")
        self.greeting = self.reply()

    def reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            line = self.stream.readline()
            if not line:
                raise ConnectionError("closed by the relay")
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def say(self, data: bytes) -> tuple[int, bytes]:
        self.stream.write(data + b"\r\n")
        self.stream.flush()
        return self.reply()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the relay may have closed it first
            self.stream.close()
        self.sock.close()


SMUGGLED = (b"MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<bob@bank.example>\r\nDATA\r\n"
            b"From: ceo@bank.example\r\nSubject: forged\r\n\r\npay them\r\n")


@pytest.mark.parametrize("end", [b"\r.\r\n", b"\r.\n", b"\n.\n", b"\n.\r\n"],
                         ids=["CR.CRLF", "CR.LF", "LF.LF", "LF.CRLF"])
def test_smtp_smuggling_is_refused_and_never_forwarded(
    tmp_path: Path, sink: SmtpSink, run_relay: Callable[..., RelayThread], end: bytes
) -> None:
    relay = _relay(tmp_path, sink, run_relay)
    wire = Wire(relay.port)
    assert wire.say(b"EHLO client.example")[0] == 250
    assert wire.say(b"MAIL FROM:<sender@outside.example>")[0] == 250
    assert wire.say(b"RCPT TO:<alice@bank.example>")[0] == 250
    assert wire.say(b"DATA")[0] == 354
    code, text = wire.say(b"Subject: hello\r\n\r\nfirst" + end + SMUGGLED + b".")
    assert 500 <= code < 600, text  # refused as a whole (RFC 5321 2.3.8)
    assert wire.say(b"NOOP")[0] == 250  # and the session goes on, in step
    wire.close()
    assert send(relay.port, ["alice@bank.example"], message(1, tag="clean")) == {}
    wait_until(lambda: len(sink.received) >= 1)
    relay.stop()
    [got] = sink.received  # the clean one only: nothing forged, nothing of the smuggler's
    assert got.rcpt_tos == ("alice@bank.example",) and b"clean-1" in got.data
    assert b"forged" not in got.data


def test_helo_must_be_a_domain_or_address_literal_and_headers_get_no_control_characters(
    tmp_path: Path, old: Dovecot, new: Dovecot, run_relay: Callable[..., RelayThread]
) -> None:
    relay = run_relay(load(write_config(tmp_path, old_port=old.lmtp_port,
                                        new_port=new.lmtp_port)))
    wire = Wire(relay.port)
    assert wire.say(b"EHLO host\rX-Spam-Flag: NO")[0] == 501
    assert wire.say(b"HELO host\x00evil")[0] == 501
    assert wire.say(b"EHLO not a name")[0] == 501
    assert wire.say(b"MAIL FROM:<s@outside.example>")[0] == 503  # no valid HELO yet
    assert wire.say(b"EHLO [127.0.0.1]")[0] == 250
    assert wire.say(b"EHLO [IPv6:::1]")[0] == 250
    assert wire.say(b"EHLO client.example")[0] == 250
    assert wire.say(b"MAIL FROM:<s@outside.example>")[0] == 250
    assert wire.say(b"RCPT TO:<carol@bank.example>")[0] == 250
    assert wire.say(b"DATA")[0] == 354
    assert wire.say(b"Subject: hi\r\n\r\nbody\r\n.")[0] == 250
    wire.close()
    wait_until(lambda: len(fetch_all(old, "carol")) == 1)
    stored = fetch_all(old, "carol")[0]
    header = stored.split(b"\r\n\r\n", 1)[0]
    assert b"X-Spam-Flag" not in header
    assert b"Received: from client.example ([127.0.0.1])" in header


def test_percent_hack_bang_paths_and_source_routes_are_refused(
    tmp_path: Path, sink: SmtpSink, run_relay: Callable[..., RelayThread]
) -> None:
    relay = _relay(tmp_path, sink, run_relay)
    with smtplib.SMTP("127.0.0.1", relay.port) as client:
        client.ehlo("client.example")
        assert client.mail("sender@outside.example")[0] == 250
        for routed in ("alice%evil.example@bank.example", "evil.example!alice@bank.example",
                       "@bank.example:alice@evil.example"):
            code, text = client.rcpt(routed)
            assert code == 553, (routed, code, text)
        assert client.rcpt("alice@bank.example")[0] == 250
        assert client.data(message(1, tag="routed"))[0] == 250
    wait_until(lambda: len(sink.received) == 1)
    relay.stop()
    assert [got.rcpt_tos for got in sink.received] == [("alice@bank.example",)]


def _auth_plain(user: str, password: str) -> bytes:
    return b"AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode())


def test_auth_offers_real_mechanisms_only_and_password_guessing_is_cut_off(
    tmp_path: Path, sink: SmtpSink, run_relay: Callable[..., RelayThread]
) -> None:
    (tmp_path / "relay-users").write_text("gateway:right one\n")
    relay = _relay(tmp_path, sink, run_relay, 'auth_users = "relay-users"\n')
    wire = Wire(relay.port)
    code, ehlo = wire.say(b"EHLO client.example")
    [auth_line] = [line for line in ehlo.split(b"\r\n") if line[4:9] == b"AUTH "]
    assert sorted(auth_line[9:].split()) == [b"LOGIN", b"PLAIN"]
    code, text = wire.say(b"AUTH users")
    assert code == 504 and b"Traceback" not in text
    assert wire.say(_auth_plain("gateway", "guess 1"))[0] == 535
    assert wire.say(_auth_plain("gateway", "guess 2"))[0] == 535
    code, _ = wire.say(_auth_plain("gateway", "guess 3"))  # the third failure: goodbye
    assert code == 421
    with pytest.raises(ConnectionError):
        wire.say(b"NOOP")
    wire.close()
    # the same address on a new connection: three more guesses, then even the right
    # password is refused for a while
    again = Wire(relay.port)
    again.say(b"EHLO client.example")
    for guess in ("guess 4", "guess 5"):
        assert again.say(_auth_plain("gateway", guess))[0] == 535
    again.close()
    last = Wire(relay.port)
    last.say(b"EHLO client.example")
    assert last.say(_auth_plain("gateway", "guess 6"))[0] == 535
    assert last.say(_auth_plain("gateway", "right one"))[0] == 454
    last.close()
    # another address is not locked out
    other = Wire(relay.port, source="127.0.0.2")
    other.say(b"EHLO client.example")
    assert other.say(_auth_plain("gateway", "right one"))[0] == 235
    assert other.say(b"MAIL FROM:<s@outside.example>")[0] == 250
    other.close()


TRICKLERS = 300
TRICKLER_ADDRESSES = [f"127.0.0.{n}" for n in range(2, 17)]  # 15 x 20 per address


class Tricklers:
    """TRICKLERS connections that send one byte now and then and never end a line; when
    the relay closes one, it connects again a second later (as an attacker would)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.connects = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Tricklers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)

    def _connect(self, slot: int) -> socket.socket | None:
        source = TRICKLER_ADDRESSES[slot % len(TRICKLER_ADDRESSES)]
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2,
                                            source_address=(source, 0))
        except OSError:
            return None
        sock.setblocking(False)
        self.connects += 1
        return sock

    def _run(self) -> None:
        socks: list[socket.socket | None] = [None] * TRICKLERS
        retry_at = [0.0] * TRICKLERS
        deadline = time.monotonic() + 150  # bounded, whatever happens
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                for slot in range(TRICKLERS):
                    sock = socks[slot]
                    if sock is None:
                        if time.monotonic() >= retry_at[slot]:
                            socks[slot] = self._connect(slot)
                            retry_at[slot] = time.monotonic() + 1.0
                        continue
                    try:
                        if sock.recv(4096) == b"":
                            raise ConnectionError("closed")
                    except BlockingIOError:
                        pass
                    except OSError:
                        sock.close()
                        socks[slot] = None
                        retry_at[slot] = time.monotonic() + 1.0
                        continue
                    try:
                        sock.send(b"E")  # EHLO, one letter at a time, never finished
                    except OSError:
                        sock.close()
                        socks[slot] = None
                        retry_at[slot] = time.monotonic() + 1.0
                self.stop.wait(1.0)
        finally:
            for sock in socks:
                if sock is not None:
                    sock.close()


def test_a_real_sender_gets_through_while_300_clients_trickle(
    tmp_path: Path, sink: SmtpSink, run_relay: Callable[..., RelayThread]
) -> None:
    relay = _relay(tmp_path, sink, run_relay)  # default limits: 200 connections
    with Tricklers(relay.port) as tricklers:
        wait_until(lambda: tricklers.connects >= TRICKLERS, timeout=30)
        deadline = time.monotonic() + 60  # "within a minute", as the issue asks
        while time.monotonic() < deadline:
            try:
                send(relay.port, ["alice@bank.example"], message(1, tag="real"))
                break
            except (OSError, smtplib.SMTPException):
                time.sleep(0.2)
        wait_until(lambda: len(sink.received) == 1, timeout=max(1.0, deadline - time.monotonic()))
    relay.stop()
    assert b"real-1" in sink.received[0].data


def test_a_line_over_64_kib_is_refused_and_the_session_stays_in_step(
    tmp_path: Path, sink: SmtpSink, run_relay: Callable[..., RelayThread]
) -> None:
    relay = _relay(tmp_path, sink, run_relay)
    wire = Wire(relay.port)
    wire.say(b"EHLO client.example")
    wire.say(b"MAIL FROM:<sender@outside.example>")
    wire.say(b"RCPT TO:<alice@bank.example>")
    assert wire.say(b"DATA")[0] == 354
    code, _ = wire.say(b"Subject: long\r\n\r\n" + b"x" * 70_000 + b"\r\nshort line\r\n.")
    assert code == 500
    assert wire.say(b"NOOP")[0] == 250
    wire.close()
    relay.stop()
    assert sink.received == [] and not list((tmp_path / "spool" / "msg").iterdir())
