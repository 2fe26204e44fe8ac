"""One TCP connection (TLS when asked), bounded in time: the only I/O of the IMAP client.

This is the one place where OS errors become mailferry errors (as httpcore's backends map
them once, around each socket call):

    while connecting / in the TLS handshake   OSError -> ConnectError
                                              certificate not trusted -> CertificateError
    on a connected socket                     OSError, ssl.SSLError, EOF -> ConnectionLost
                                              the command's deadline -> CommandTimeout

Two limits a plain buffered reader cannot give:
- a per-command deadline. A per-read timeout never fires on a server that trickles a byte
  now and then, so each command gets `command_timeout` seconds plus one second per
  `min_rate` bytes it received: a healthy 50 GB FETCH stream goes on, a trickle stops.
- a cap on literals (`max_literal`, applied by protocol.ResponseReader): a server announcing
  2 GB costs the time to drain it, never the memory.

After COMPRESS=DEFLATE (RFC 4978, `start_deflate`) both directions are raw DEFLATE streams:
what is sent is compressed and flushed per send (the server waits for each command), what
is received is inflated at most `_CHUNK` bytes at a time (a hostile server's small packet
never becomes a large buffer), and a command's answer may inflate to at most `_MAX_RATIO`
times what came over the wire (plus `_RATIO_SLACK`): a decompression bomb (DEFLATE turns
1 KB into 1 MB of one repeated byte) announcing a literal above the cap would otherwise keep
the client inflating and dropping it for hours, each kilobyte extending the deadline.
Everything above sees plain IMAP either way.

`tls_context()` is also what the relay's SMTP upstreams use: one TLS policy for the project.
"""

from __future__ import annotations

import contextlib
import io
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailferry.errors import (
    CertificateError,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    ProtocolError,
)

_CHUNK = 1 << 18
# mail, even base64 of a sparse file, deflates far less than this; DEFLATE's own limit is
# ~1032:1 (runs of one byte): above it a stream is a bomb, not mail
_MAX_RATIO = 250
_RATIO_SLACK = 16 << 20

# "auto" compression (SessionLimits.compress): a link is slow when it moved at least
# `_SLOW_AFTER` bytes either way at under `_SLOW_RATE` bytes per second (per connection: the
# connections of a copy share the link); fast once `_FAST_AFTER` bytes went either way
# without that. DEFLATE level 1 costs ~30 MB/s of one core here (bench/wan_bench.py): below
# a few MB/s per connection the bytes it saves are the dearer.
_SLOW_RATE = 4 << 20
_SLOW_AFTER = 1 << 20
_FAST_AFTER = 16 << 20
_WAITED = 0.002  # seconds: a recv that took longer waited for the link (or the server)


class LinkMeter:
    """How fast data moves to and from one server, over all of a process's sessions with it.
    In: the recv calls that waited, but not an answer's first (that wait is the server
    thinking, and one round trip). Out: whole APPENDs of large messages, to their OK (socket
    buffers take megabytes before a sender feels a thin pipe: the wait is for the OK)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._moved = [0, 0]  # bytes in, out
        self._timed = [0, 0]  # of which, timed
        self._seconds = [0.0, 0.0]  # the time those took

    def received(self, size: int, seconds: float) -> None:
        self._add(0, size, seconds if seconds >= _WAITED else None)

    def sent(self, size: int, seconds: float | None) -> None:
        """`seconds`: None where the send says nothing about the link."""
        self._add(1, size, seconds)

    def _add(self, way: int, size: int, seconds: float | None) -> None:
        with self._lock:
            self._moved[way] += size
            if seconds is not None:
                self._timed[way] += size
                self._seconds[way] += seconds

    def verdict(self) -> bool | None:
        """True: slow (compress), False: fast so far, None: too little measured yet."""
        with self._lock:
            if any(t >= _SLOW_AFTER and t < _SLOW_RATE * s
                   for t, s in zip(self._timed, self._seconds, strict=True)):
                return True
            return False if max(self._moved) >= _FAST_AFTER else None


class RoundTrip:
    """The shortest wait yet, over all of a process's sessions with one server, from a
    command sent to its answer's first bytes: the link's round trip, plus the least the
    server thought (a busy server's login or first SELECT alone says more than the link)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.shortest: float | None = None

    def seen(self, seconds: float) -> None:
        with self._lock:
            if self.shortest is None or seconds < self.shortest:
                self.shortest = seconds


@dataclass(frozen=True)
class _Link:
    """What a process learns of the link to one server, shared by its sessions."""

    meter: LinkMeter = field(default_factory=LinkMeter)
    round_trip: RoundTrip = field(default_factory=RoundTrip)


_links: dict[tuple[str, int], _Link] = {}
_links_lock = threading.Lock()


def _link(host: str, port: int) -> _Link:
    key = (host.lower(), port)
    with _links_lock:
        if key not in _links:
            _links[key] = _Link()
        return _links[key]


def link_meter(host: str, port: int) -> LinkMeter:
    """The one meter of the link to host:port in this process."""
    return _link(host, port).meter


def round_trip(host: str, port: int) -> RoundTrip:
    """The one round-trip estimate of host:port in this process."""
    return _link(host, port).round_trip


@dataclass(frozen=True)
class SessionLimits:
    read_timeout: float = 120.0  # silence on the socket
    command_timeout: float = 300.0  # per command, plus one second per `min_rate` bytes read
    min_rate: int = 16 << 10
    max_literal: int = 256 << 20  # larger literals are skipped, never held in memory
    # COMPRESS=DEFLATE where the server offers it: "auto" (once the link proves slow: see
    # LinkMeter), "always", "never"
    compress: str = "auto"


def tls_context(verify: bool = True, ca_file: str | Path | None = None) -> ssl.SSLContext:
    """The client TLS context: the system's trust store (or `ca_file`); `verify=False` is
    --insecure (no certificate or host name check)."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _DeadlinePassed(Exception):
    def __init__(self, seconds: float, received: int) -> None:
        super().__init__(f"no complete answer within {seconds:.0f}s ({received} bytes received)")


class _Closed(Exception):
    """The peer closed the connection (EOF)."""


class _Bomb(Exception):
    def __init__(self, inflated: int, received: int) -> None:
        super().__init__(f"the server's compressed answer inflates more than {_MAX_RATIO}:1 "
                         f"({inflated} bytes from {received}): a decompression bomb, not mail "
                         "(--compress never avoids COMPRESS)")


class _Deadline:
    def __init__(self, seconds: float, min_rate: int) -> None:
        self.started = time.monotonic()
        self.seconds = seconds
        self.min_rate = max(1, min_rate)
        self.received = 0

    def remaining(self) -> float:
        allowed = self.seconds + self.received / self.min_rate
        return self.started + allowed - time.monotonic()

    def expired(self) -> _DeadlinePassed:
        return _DeadlinePassed(time.monotonic() - self.started, self.received)


class _LiteralStream(io.RawIOBase):
    """A literal's bytes as a raw stream: what the protocol has buffered, then the socket."""

    def __init__(self, drain: Callable[[memoryview], int],
                 recv: Callable[[memoryview], int | bytes]) -> None:
        self.drain = drain
        self.recv = recv

    def readable(self) -> bool:
        return True

    def readinto(self, into: Any) -> int:
        view = memoryview(into).cast("B")
        count = self.drain(view) or self.recv(view)
        assert isinstance(count, int)
        return count


class Transport:
    """A connected socket; `server` labels its errors."""

    def __init__(self, sock: socket.socket, limits: SessionLimits, server: str,
                 meter: LinkMeter | None = None, round_trip_of: RoundTrip | None = None,
                 ) -> None:
        self.sock: socket.socket | None = sock
        self.meter = meter  # "auto" compression: measures the link until COMPRESS is on
        self.limits = limits
        self.server = server
        self._deadline = _Deadline(limits.command_timeout, limits.min_rate)
        self._deflate: Any = None  # zlib compress/decompress objects once COMPRESS is on
        self._inflate: Any = None
        self._plain = memoryview(b"")  # inflated, not yet handed over
        self._inflated = 0  # bytes inflated for the current command
        self._answer_started = False  # the current command's first bytes came (LinkMeter)
        self._command_started = 0.0
        self.round_trip = round_trip_of  # (engine: batch sizes to a far target)

    @property
    def compressed(self) -> bool:
        return self._deflate is not None

    def start_deflate(self, received: bytes) -> None:
        """COMPRESS=DEFLATE from now on; `received`: bytes already read past the server's OK
        (the start of its compressed stream)."""
        self._deflate = zlib.compressobj(1, zlib.DEFLATED, -15)  # level 1: CPU is dearer
        self._inflate = zlib.decompressobj(-15)                  # than the bytes it saves
        self.meter = None
        self._plain = memoryview(self._inflate.decompress(received, _CHUNK))

    @classmethod
    def connect(cls, host: str, port: int, limits: SessionLimits, server: str,
                meter: LinkMeter | None = None) -> Transport:
        try:
            sock = socket.create_connection((host, port), timeout=limits.read_timeout)
        except OSError as exc:
            raise ConnectError(f"cannot connect: {exc.strerror or exc}", server=server) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, limits, server, meter, round_trip(host, port))

    def start_tls(self, context: ssl.SSLContext, hostname: str) -> None:
        sock = self._connected("")
        sock.settimeout(self.limits.read_timeout)
        try:
            self.sock = context.wrap_socket(sock, server_hostname=hostname)
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise CertificateError(
                f"TLS certificate not trusted: {exc.verify_message} (--insecure to skip the"
                " check, at your own risk)", server=self.server) from None
        except (ssl.SSLError, OSError) as exc:
            self.close()
            raise ConnectError(f"TLS handshake failed: {exc}", server=self.server) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.sock is not None:
                self.sock.close()
        self.sock = None

    def start_command(self) -> None:
        """A new command: its deadline starts now."""
        self._deadline = _Deadline(self.limits.command_timeout, self.limits.min_rate)
        self._inflated = 0
        self._answer_started = False
        self._command_started = time.perf_counter()

    def _connected(self, command: str) -> socket.socket:
        if self.sock is None:
            raise ConnectionLost("not connected", server=self.server, command=command)
        return self.sock

    @contextlib.contextmanager
    def _mapped(self, command: str, inside: str = "") -> Iterator[None]:
        """OS errors (and EOF, and the deadline) as mailferry errors; the socket is closed.
        `inside`: what an EOF cut short ("line", "literal"), for the message."""
        try:
            yield
        except _DeadlinePassed as exc:
            self.close()
            raise CommandTimeout(str(exc), server=self.server, command=command) from None
        except _Bomb as exc:
            self.close()
            raise ProtocolError(str(exc), server=self.server, command=command) from None
        except _Closed:
            self.close()
            cut = {"line": " in the middle of a line", "literal": " inside a literal"}
            raise ConnectionLost("connection lost: server closed the connection"
                                 + cut.get(inside, ""), server=self.server,
                                 command=command) from None
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self.close()
            raise ConnectionLost(f"connection lost: {exc}", server=self.server,
                                 command=command) from None

    def send(self, pieces: Sequence[bytes], command: str) -> None:
        sock = self._connected(command)
        limits = self.limits
        deflate = self._deflate
        with self._mapped(command):
            for n, piece in enumerate(pieces):
                if deflate is not None:
                    piece = deflate.compress(piece)
                    if n == len(pieces) - 1:
                        piece += deflate.flush(zlib.Z_SYNC_FLUSH)
                # sendall's timeout bounds the whole call: allow for the size at the minimum rate
                sock.settimeout(max(limits.read_timeout, limits.command_timeout
                                    + len(piece) / max(1, limits.min_rate)))
                sock.sendall(piece)

    def has_data(self, wait: float) -> bool:
        """Whether bytes can be read within `wait` seconds without blocking longer (what
        this side holds already, TLS's decrypted bytes, or the socket's)."""
        sock = self.sock
        if sock is None or self._plain or (self._inflate is not None
                                           and self._inflate.unconsumed_tail):
            return True
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        with contextlib.suppress(OSError, ValueError):  # (the read that follows says why)
            poller = select.poll()  # (select() cannot take a descriptor above 1023)
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(max(0, round(wait * 1000))))
        return True

    def read(self, command: str, inside: str = "") -> bytes:
        """What the socket has (at most 256 KB), waiting within the command's deadline."""
        sock = self._connected(command)
        with self._mapped(command, inside):
            data = self._recv(sock, None)
        assert isinstance(data, bytes)
        return data

    def read_into(self, view: memoryview, command: str, inside: str = "") -> int:
        """Like read, straight into `view` (the rest of a long literal); the count read."""
        sock = self._connected(command)
        with self._mapped(command, inside):
            count = self._recv(sock, view)
        assert isinstance(count, int)
        return count

    def read_literal(self, size: int, drain: Callable[[memoryview], int], command: str) -> bytes:
        """A literal of `size` bytes: first what `drain` gives (the protocol's buffer), then
        the socket. io.BufferedReader.read(n) receives straight into the bytes object it
        returns (with a 1-byte buffer every read goes to `readinto`, nothing is read ahead):
        a 25 MB body costs 25 MB, where filling a bytearray and converting it held it twice."""
        sock = self._connected(command)
        with self._mapped(command, "literal"):
            stream = _LiteralStream(drain, lambda view: self._recv(sock, view))
            data = io.BufferedReader(stream, buffer_size=1).read(size)
            if len(data) < size:
                raise _Closed
        return data

    def _recv(self, sock: socket.socket, into: memoryview | None) -> int | bytes:
        if self._inflate is None:
            return self._recv_raw(sock, into)
        while not self._plain:
            inflate = self._inflate
            tail = inflate.unconsumed_tail
            raw = tail if tail else self._recv_raw(sock, None)
            assert isinstance(raw, bytes)
            self._plain = memoryview(inflate.decompress(raw, _CHUNK))
            if inflate.eof:
                raise _Closed  # the server ended its stream: nothing can follow
            self._inflated += len(self._plain)
            received = self._deadline.received
            if self._inflated > _RATIO_SLACK + _MAX_RATIO * received:
                raise _Bomb(self._inflated, received)
        count = len(self._plain) if into is None else min(len(into), len(self._plain))
        piece, self._plain = self._plain[:count], self._plain[count:]
        if into is None:
            return piece.tobytes()
        into[:count] = piece
        return count

    def _recv_raw(self, sock: socket.socket, into: memoryview | None) -> int | bytes:
        deadline = self._deadline
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.expired()
        wait = min(self.limits.read_timeout, remaining)
        sock.settimeout(wait)
        meter = self.meter if self._answer_started else None
        started = time.perf_counter() if meter is not None else 0.0
        try:
            got: int | bytes = sock.recv_into(into) if into is not None else sock.recv(_CHUNK)
        except TimeoutError:
            if wait < self.limits.read_timeout:
                raise deadline.expired() from None
            raise  # silence for read_timeout: the connection is gone
        size = got if isinstance(got, int) else len(got)
        if size == 0:
            raise _Closed
        deadline.received += size
        if meter is not None:
            meter.received(size, time.perf_counter() - started)
        if not self._answer_started and self._command_started and self.round_trip:
            self.round_trip.seen(time.perf_counter() - self._command_started)  # (no greeting)
        self._answer_started = True
        return got
