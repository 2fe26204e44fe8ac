"""Test helpers for the relay: config files, a relay in a thread, sending and reading back.

Sending uses smtplib and reading uses imaplib (stdlib), so the relay is never checked with
its own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import re
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from mailferry import project
from mailferry.project import RelaySettings
from mailferry.relay import Metrics, Relay
from testbed import Dovecot, DovecotUser, imap_login
from testbed.seed import imap_session
from testbed.smtp_sink import SmtpSink

USERS = [DovecotUser(name, f"{name}-pw") for name in ("alice", "bob", "carol")]

def write_config(directory: Path, *, old_port: int = 0, new_port: int = 0, old_url: str = "",
                 new_url: str = "", routes: str | None = None, extra: str = "",
                 listen: str = "127.0.0.1:0") -> Path:
    """A migration.toml like the issue's example, on test ports (LMTP unless URLs are
    given), with fast retries."""
    if routes is not None:
        (directory / "routes.csv").write_text(routes)
    path = directory / "migration.toml"
    path.write_text(
        "[relay]\n"
        f'listen = "{listen}"\n'
        'spool = "./spool"\n'
        'domains = ["bank.example"]\n'
        f'old = "{old_url or f"lmtp://127.0.0.1:{old_port}"}"\n'
        f'new = "{new_url or f"lmtp://127.0.0.1:{new_port}"}"\n'
        'default_route = "old"\n'
        'hostname = "relay.bank.example"\n'
        'retry_initial = 0.2\n'
        'retry_max = 1\n'
        + ('routes = "routes.csv"\n' if routes is not None else "")
        + extra)
    return path


def load(path: Path) -> RelaySettings:
    return project.load(path).relay


class RelayThread:
    """A Relay running its own event loop in a thread, as the CLI would in its process."""

    def __init__(self, settings: RelaySettings) -> None:
        self.relay = Relay(settings)
        self.metrics: Metrics | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self.metrics = asyncio.run(self.relay.run(install_signals=False))
        except BaseException as exc:  # handed to the test by start()/stop()
            self.error = exc
            self.relay.started.set()

    def start(self) -> RelayThread:
        self._thread.start()
        assert self.relay.started.wait(10), "relay did not start"
        if self.error:
            raise self.error
        return self

    @property
    def is_running(self) -> bool:
        return self._thread.is_alive()

    @property
    def port(self) -> int:
        assert self.relay.port is not None
        return self.relay.port

    def stop(self) -> Metrics:
        self.relay.request_stop()
        self._thread.join(30)
        assert not self._thread.is_alive(), "relay did not stop"
        if self.error:
            raise self.error
        assert self.metrics is not None
        return self.metrics


# What Dovecot's LMTP puts in front of a delivered message: Return-Path and its Received.
_DOVECOT_TRACE = re.compile(
    rb"\AReturn-Path: <[^>]*>\r\n(Delivered-To: [^\r]*\r\n)?"
    rb"Received: [^\r]*\r\n(\t[^\r]*\r\n)*")
_OUR_RECEIVED = re.compile(
    rb"\AReceived: from [^\r]*\r\n\tby relay\.bank\.example \(mailferry\) with [^\r]*\r\n"
    rb"(\t[^\r]*\r\n)?")


def message(n: int, *, size: int = 0, tag: str = "t") -> bytes:
    body = b"".join(b"line %d of the body\r\n" % i for i in range(max(1, size // 20)))
    return (b"From: Sender <sender@outside.example>\r\nTo: alice@bank.example\r\n"
            b"Subject: message %d\r\nMessage-ID: <%s-%d@test.example>\r\n\r\n" % (
                n, tag.encode(), n)) + body


def send(port: int, rcpts: list[str], raw: bytes, mail_from: str = "sender@outside.example"
         ) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(mail_from, rcpts, raw)


@contextlib.contextmanager
def _inbox(server: Dovecot, user: str) -> Iterator[tuple[imaplib.IMAP4, int]]:
    """A read-only session on `user`'s INBOX and its message count."""
    with imap_session(server.host, server.port, user, server.password(user)) as conn:
        typ, data = conn.select("INBOX", readonly=True)
        assert typ == "OK", f"EXAMINE INBOX as {user}: {typ} {data!r}"
        yield conn, int(data[0] or 0)


def fetch_all(server: Dovecot, user: str) -> list[bytes]:
    with _inbox(server, user) as (conn, exists):
        if exists == 0:
            return []
        typ, items = conn.fetch("1:*", "(BODY.PEEK[])")
        assert typ == "OK"
        return [item[1] for item in items if isinstance(item, tuple)]


def count(server: Dovecot, user: str) -> int:
    with _inbox(server, user) as (_, exists):
        return exists


def relayed_part(stored: bytes) -> bytes:
    """The stored message without the upstream's own trace headers and without ours."""
    trace = _DOVECOT_TRACE.match(stored)
    assert trace, f"no Dovecot trace header: {stored[:300]!r}"
    rest = stored[trace.end():]
    ours = _OUR_RECEIVED.match(rest)
    assert ours, f"no Received header from the relay: {rest[:300]!r}"
    return rest[ours.end():]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


class RelayProcess:
    """`mailferry relay FILE` as a real process, for signals and kill -9."""

    def __init__(self, config: Path, port: int) -> None:
        self.config = config
        self.port = port
        self.log_path = config.parent / "relay.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RelayProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailferry", "relay", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_until(lambda: self._listening() or self.process is None
                   or self.process.poll() is not None, timeout=20)
        assert self.process.poll() is None, self.log_path.read_text()
        return self

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def mailferry(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, stdin=subprocess.DEVNULL)


def message_ids(server: Dovecot, user: str) -> list[str]:
    """The Message-ID of every message in the user's INBOX, duplicates included."""
    conn = imap_login(server.host, server.port, user, server.password(user))
    try:
        _, data = conn.select("INBOX", readonly=True)
        if int(data[0] or 0) == 0:
            return []
        _, items = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        return [item[1].decode().split(":", 1)[1].strip() for item in items
                if isinstance(item, tuple)]
    finally:
        conn.logout()


def sink_ids(sink: SmtpSink) -> Counter[str]:
    """The Message-ID of every message the sink holds, duplicates included."""
    return Counter(line.split(b":", 1)[1].strip().decode()
                   for got in sink.received for line in got.data.split(b"\r\n")
                   if line.lower().startswith(b"message-id:"))


def both_to_sink_and_door(directory: Path, sink: SmtpSink, door_port: int, port: int) -> Path:
    """alice routed to both: "old" is the SMTP sink, "new" is LMTP behind a door (a
    FaultProxy the test points at a real server when "new" comes back)."""
    return write_config(directory, old_url=f"smtp://127.0.0.1:{sink.port}",
                        new_url=f"lmtp://127.0.0.1:{door_port}", listen=f"127.0.0.1:{port}",
                        routes="alice@bank.example,both\n")


class SenderLoad:
    """`clients` threads, each sending `per_client` messages to users in turn, retrying
    (as a new message) until the relay says 250. `accepted`: Message-ID -> user."""

    def __init__(self, port: int, clients: int, per_client: int, users: list[str], *,
                 tag: str = "k", size: int = 2000, attempts: int = 100) -> None:
        self.port = port
        self.per_client = per_client
        self.users = users
        self.tag = tag
        self.size = size
        self.attempts = attempts
        self.accepted: dict[str, str] = {}
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(n,))
                         for n in range(clients)]

    def start(self) -> SenderLoad:
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _client(self, number: int) -> None:
        for n in range(self.per_client):
            user = self.users[(number + n) % len(self.users)]
            for attempt in range(self.attempts):  # bounded: the relay is down for a moment
                if self.stop.is_set():
                    return
                # a retry is a new message: one whose 250 the kill cut may arrive as well
                tag = f"{self.tag}{number}a{attempt}"
                try:
                    send(self.port, [f"{user}@bank.example"],
                         message(n, tag=tag, size=self.size))
                except (OSError, smtplib.SMTPException):
                    self.stop.wait(0.05)
                    continue
                with self._lock:
                    self.accepted[f"<{tag}-{n}@test.example>"] = user
                break
