"""A TCP proxy that counts the connections open through it at once (and the most ever), so
a test can check a connection cap at the server's door, whatever the clients believe."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class CountingProxy:
    """`slow`: seconds to sleep per 4 KB a client sends (a copy that takes a while)."""

    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1", *,
                 slow: float = 0.0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.slow = slow
        self._server = socket.create_server((host, 0))
        self.host, self.port = host, self._server.getsockname()[1]
        self._lock = threading.Lock()
        self.open = 0
        self.peak = 0
        self.total = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.open += 1
                self.total += 1
                self.peak = max(self.peak, self.open)
            done = threading.Event()
            for src, dst, slow in ((client, upstream, self.slow), (upstream, client, 0.0)):
                threading.Thread(target=self._pump, args=(src, dst, done, slow),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, done: threading.Event,
              slow: float) -> None:
        try:
            while data := src.recv(4096 if slow else 65536):
                dst.sendall(data)
                if slow:
                    time.sleep(slow)
        except OSError:
            pass
        with self._lock:
            first = not done.is_set()
            done.set()
            if first:  # the first side to end ends the connection: counted once
                self.open -= 1
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if not first:  # the other pump is out of its loop too: the sockets are ours to close
            src.close()
            dst.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()
