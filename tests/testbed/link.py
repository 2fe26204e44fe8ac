"""A slow network link on 127.0.0.1: a TCP proxy that delays every byte by a one-way `delay`
and, optionally, paces it to `rate` bits per second, in both directions (issue 16: a source
50 ms away, a 20 Mbit/s pipe). For benchmarks; faults are testbed.proxy's.

Each connection's direction has a reader that stamps each chunk with the time it may leave
(after every chunk before it on the link, at the link's rate: the connections share the
pipe, as on a real link) and arrive (plus the delay), and a writer that sends it then. Up
to `window` bytes wait in flight per direction; beyond that the reader stops reading, so
TCP's flow control still reaches the sender as on a real link.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time

# small reads keep the pacing smooth at a few Mbit/s; without a rate cap, large ones keep
# the proxy (Python threads) from becoming the link's bottleneck
_READ_PACED = 16 << 10
_READ = 256 << 10


class _Pipe:
    """One direction of the link, shared by its connections: when it is free again."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.free_at = 0.0
        self.lock = threading.Lock()

    def send(self, now: float, size: int) -> float:
        """When `size` bytes handed over at `now` have left."""
        if not self.rate:
            return now
        with self.lock:
            self.free_at = max(now, self.free_at) + size * 8 / self.rate
            return self.free_at


class _Direction:
    def __init__(self, src: socket.socket, dst: socket.socket, delay: float, pipe: _Pipe,
                 window: int) -> None:
        self.src, self.dst = src, dst
        self.delay, self.pipe, self.window = delay, pipe, window
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.cond = threading.Condition()
        self.closed = False

    def read_loop(self) -> None:
        try:
            while True:
                data = self.src.recv(_READ_PACED if self.pipe.rate else _READ)
                now = time.monotonic()
                with self.cond:
                    while self.queued >= self.window and not self.closed:
                        self.cond.wait()
                    if not data:
                        self.queue.append((now + self.delay, b""))
                        self.cond.notify_all()
                        return
                    self.queue.append((self.pipe.send(now, len(data)) + self.delay, data))
                    self.queued += len(data)
                    self.cond.notify_all()
        except OSError:
            with self.cond:
                self.queue.append((0.0, b""))
                self.cond.notify_all()

    def write_loop(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.queue:
                        self.cond.wait()
                    due, data = self.queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                with self.cond:
                    self.queue.popleft()
                    self.queued -= len(data)
                    self.cond.notify_all()
                if not data:
                    with contextlib.suppress(OSError):
                        self.dst.shutdown(socket.SHUT_WR)
                    return
                self.dst.sendall(data)
        except OSError:
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()


class Link:
    """127.0.0.1:`port` -> upstream through the emulated link (a context manager)."""

    def __init__(self, upstream_host: str, upstream_port: int, *, delay: float,
                 rate: float | None = None, window: int | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        # in flight per direction: 4 MB, or on a capped link 100 ms of its rate (at least
        # 64 KB), as a router's queue holds: a sender feels a thin pipe at once
        if window is None:
            window = 4 << 20 if not rate else max(64 << 10, int(rate / 8 * 0.1))
        self.delay, self.rate, self.window = delay, rate, window
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._pipes = (_Pipe(rate), _Pipe(rate))  # up, down
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            for src, dst, pipe in ((client, server, self._pipes[0]),
                                   (server, client, self._pipes[1])):
                direction = _Direction(src, dst, self.delay, pipe, self.window)
                threading.Thread(target=direction.read_loop, daemon=True).start()
                threading.Thread(target=direction.write_loop, daemon=True).start()

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
