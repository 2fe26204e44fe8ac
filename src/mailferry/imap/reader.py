"""Reading lines and literals off a socket, bounded in time and memory.

Two limits a plain buffered reader cannot give:
- a per-command deadline. A per-read timeout never fires on a server that trickles a byte
  now and then, so each command gets `command_timeout` seconds plus one second per
  `min_rate` bytes it received: a healthy 50 GB FETCH stream goes on, a trickle stops.
- a cap on literals. A literal larger than the caller's cap is skipped off the socket in
  small pieces and stands as `SkippedLiteral(size)`: a server announcing 2 GB costs the
  time to drain it, never the memory.
"""

from __future__ import annotations

import io
import socket
import time
from dataclasses import dataclass
from typing import Any

_CHUNK = 1 << 18


@dataclass(frozen=True)
class SessionLimits:
    read_timeout: float = 120.0  # silence on the socket
    command_timeout: float = 300.0  # per command, plus one second per `min_rate` bytes read
    min_rate: int = 16 << 10
    max_literal: int = 256 << 20  # larger literals are skipped, never held in memory


@dataclass(frozen=True)
class SkippedLiteral:
    """A literal too large to keep: only its announced size."""

    size: int


class DeadlinePassed(Exception):
    """The command's deadline passed (the session turns this into CommandTimeout)."""

    def __init__(self, seconds: float, received: int) -> None:
        self.seconds = seconds
        self.received = received
        super().__init__(f"no complete answer within {seconds:.0f}s"
                         f" ({received} bytes received)")


class ConnectionClosed(Exception):
    """The peer closed the connection (EOF), possibly in the middle of a line or literal."""


class Deadline:
    def __init__(self, seconds: float, min_rate: int) -> None:
        self.started = time.monotonic()
        self.seconds = seconds
        self.min_rate = max(1, min_rate)
        self.received = 0

    def remaining(self) -> float:
        allowed = self.seconds + self.received / self.min_rate
        return self.started + allowed - time.monotonic()

    def expired(self) -> DeadlinePassed:
        return DeadlinePassed(time.monotonic() - self.started, self.received)


class _LiteralStream(io.RawIOBase):
    """A literal's bytes as a raw stream: what the reader holds first, then the socket."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, into: Any) -> int:
        reader = self.reader
        view = memoryview(into).cast("B")
        available = len(reader._buf) - reader._pos
        if available:
            count = min(available, len(view))
            view[:count] = reader._buf[reader._pos:reader._pos + count]
            reader._pos += count
            if reader._pos == len(reader._buf):
                reader._buf.clear()
                reader._pos = 0
            return count
        got = reader._recv(view)
        assert isinstance(got, int)
        return got


class Reader:
    """Buffered reads from one socket; every read respects the current command's deadline."""

    def __init__(self, sock: socket.socket, limits: SessionLimits) -> None:
        self.sock = sock
        self.limits = limits
        self.deadline = Deadline(limits.command_timeout, limits.min_rate)
        self._buf = bytearray()
        self._pos = 0  # start of the unread bytes in _buf

    def start_command(self) -> None:
        self.deadline = Deadline(self.limits.command_timeout, self.limits.min_rate)

    def _recv(self, into: memoryview | None = None) -> int | bytes:
        """One recv within the deadline: bytes (or a count, when reading `into`)."""
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise self.deadline.expired()
        wait = min(self.limits.read_timeout, remaining)
        self.sock.settimeout(wait)
        try:
            got: int | bytes = (self.sock.recv_into(into) if into is not None
                                else self.sock.recv(_CHUNK))
        except TimeoutError:
            if wait < self.limits.read_timeout:
                raise self.deadline.expired() from None
            raise
        size = got if isinstance(got, int) else len(got)
        if size == 0:
            raise ConnectionClosed("server closed the connection")
        self.deadline.received += size
        return got

    def _fill(self) -> None:
        if self._pos and self._pos >= len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        data = self._recv()
        assert isinstance(data, bytes)
        self._buf += data

    def readline(self, limit: int) -> bytes:
        """One line with its line end; at most `limit` bytes (then without a line end)."""
        scanned = 0  # bytes after _pos known to hold no line end
        while True:
            end = self._buf.find(b"\n", self._pos + scanned, self._pos + limit)
            if end >= 0:
                line = bytes(self._buf[self._pos:end + 1])
                self._pos = end + 1
                return line
            if len(self._buf) - self._pos >= limit:
                line = bytes(self._buf[self._pos:self._pos + limit])
                self._pos += limit
                return line
            scanned = len(self._buf) - self._pos
            try:
                self._fill()
            except ConnectionClosed:
                if len(self._buf) > self._pos:
                    raise ConnectionClosed("connection closed in the middle of a line") from None
                raise

    def read_exact(self, size: int) -> bytes:
        available = len(self._buf) - self._pos
        if size <= available:
            data = bytes(self._buf[self._pos:self._pos + size])
            self._pos += size
            return data
        # io.BufferedReader.read(n) receives straight into the bytes object it returns (with
        # a 1-byte buffer every read goes to `readinto`, nothing is read ahead): a 25 MB body
        # costs 25 MB, where filling a bytearray and converting it held it twice.
        reader = io.BufferedReader(_LiteralStream(self), buffer_size=1)
        try:
            data = reader.read(size)
        except ConnectionClosed:
            raise ConnectionClosed("connection closed inside a literal") from None
        if len(data) < size:
            raise ConnectionClosed("connection closed inside a literal")
        return data

    def skip(self, size: int) -> None:
        """Drop `size` bytes without keeping them."""
        available = len(self._buf) - self._pos
        if size <= available:
            self._pos += size
            return
        left = size - available
        self._buf.clear()
        self._pos = 0
        scratch = memoryview(bytearray(_CHUNK))
        while left:
            try:
                count = self._recv(scratch[:min(left, _CHUNK)])
            except ConnectionClosed:
                raise ConnectionClosed("connection closed inside a literal") from None
            assert isinstance(count, int)
            left -= count
