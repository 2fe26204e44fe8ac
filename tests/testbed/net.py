"""Loopback ports for test servers.

A port from `free_port` is free when it is picked and bound by a server process a moment
later. Asked of the kernel (bind to port 0), two pytest workers could be handed the same port
in that moment, or a client's ephemeral port could take it: the server that lost the race
died while `wait_for_port` saw the winner listening, and a test talked to another test's
server (CI, 2026-12-01: a copy into "pymap" landed in a Courier). So each process claims its
own block of ports below the kernel's ephemeral range, with a lock file held for its
lifetime (concurrent pytest sessions on one machine get different blocks), and hands out the
ports of its block in turn.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import time
from pathlib import Path

FIRST_PORT = 20000  # below Linux's ephemeral range (32768-60999): never a client's port
BLOCK = 400
BLOCKS = 30  # 20000-31999
LOCKS = Path(tempfile.gettempdir()) / "mailferry-test-ports"

_claim: tuple[int, int, object] | None = None  # (pid, block, lock file kept open)
_next = 0


def _block() -> int:
    global _claim, _next
    if _claim is not None and _claim[0] == os.getpid():
        return _claim[1]
    LOCKS.mkdir(exist_ok=True)
    for block in range(BLOCKS):
        lock = open(LOCKS / f"block-{block}", "w")  # noqa: SIM115 - held until exit
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _claim, _next = (os.getpid(), block, lock), 0
        return block
    raise RuntimeError(f"all {BLOCKS} test port blocks are claimed ({LOCKS})")


def free_port(host: str = "127.0.0.1") -> int:
    global _next
    base = FIRST_PORT + _block() * BLOCK
    for _ in range(BLOCK):
        port = base + _next % BLOCK
        _next += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:  # still in use (a lingering server, TIME_WAIT, a system service)
                continue
        return port
    raise RuntimeError(f"no free port in {base}-{base + BLOCK - 1}")


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)
