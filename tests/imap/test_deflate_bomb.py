"""COMPRESS=DEFLATE (RFC 4978) against a hostile server: after `COMPRESS DEFLATE` the server
answers the next command with a decompression bomb, a few KB on the wire per gigabyte
inflated. The client must end that connection with an error that says what happened, in
bounded memory, and soon: the real client runs in a subprocess whose address space is capped
at what it had after logging in plus a margin (RLIMIT_AS, as tests/copy/test_copy_memory.py),
and whose run is bounded by a generous timeout (a hang fails the test, no time is asserted).
The server is a few lines of socket code here: no real server sends such a stream. (A
literal within the cap costs its size whatever the stream: --max-message-size bounds it.)
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator

import pytest

MARGIN = 48 << 20  # above the logged-in client's VmPeak: the inflate buffers, not a literal

# the real session, capped after login; prints the error that ended LIST, and the growth
CLIENT = """
import resource, sys
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url, session_for
from mailferry.imap.transport import SessionLimits

def vm_peak():
    with open("/proc/self/status") as status:
        return int(next(l.split()[1] for l in status if l.startswith("VmPeak:"))) * 1024

account = Account(parse_mailbox_url(sys.argv[1]), Credentials("alice", "pw"), TlsPolicy())
session = session_for(account, limits=SessionLimits(compress="always"))
assert session.compressed
start = vm_peak()
resource.setrlimit(resource.RLIMIT_AS, (start + int(sys.argv[2]), resource.RLIM_INFINITY))
try:
    session.list_folders()
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
print(f"grew {(vm_peak() - start) >> 20} MB")
"""


def _repeatable(plain: bytes) -> bytes:
    """`plain` deflated so that the same bytes may be sent again and again: a full flush
    resets the compressor, so each repetition continues the one stream validly."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(plain) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(plain) + deflate.flush(zlib.Z_FULL_FLUSH) == first
    return first


ZEROS = _repeatable(b"\0" * (1 << 20))  # ~1 KB on the wire per MB inflated
LETTERS = _repeatable(b"A" * (1 << 20))
BOMBS: dict[str, tuple[bytes, bytes]] = {  # what starts the answer, then what repeats forever
    "endless line": (b"* LIST () \"/\" ", LETTERS),
    "endless literal above the cap": (b"* 1 FETCH (UID 1 BODY[] {1099511627776}\r\n", ZEROS),
}


class HostileServer:
    """Greets, takes AUTHENTICATE and COMPRESS DEFLATE like a server should, then answers
    the next command with `bomb` until the client hangs up."""

    def __init__(self, bomb: tuple[bytes, bytes]) -> None:
        self.bomb = bomb
        self.sent = 0  # bytes of the bomb on the wire
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self._listener.accept()
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN COMPRESS=DEFLATE] hi\r\n")
        while line := reader.readline():
            tag, verb = line.split()[:2]
            if verb.upper() == b"AUTHENTICATE":
                assert base64.b64decode(line.split()[3]).split(b"\0")[1] == b"alice"
                conn.sendall(tag + b" OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] in\r\n")
            elif verb.upper() == b"COMPRESS":
                conn.sendall(tag + b" OK DEFLATE active\r\n")
                break
        head, body = self.bomb
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        inflate = zlib.decompressobj(-15)
        while b"\n" not in inflate.decompress(conn.recv(4096)):  # the next command
            pass
        conn.sendall(deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH))
        while True:
            conn.sendall(body)
            self.sent += len(body)


@pytest.fixture
def hostile() -> Iterator[Callable[[str], HostileServer]]:
    started: list[HostileServer] = []

    def start(name: str) -> HostileServer:
        server = HostileServer(BOMBS[name])
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.mark.parametrize("name", list(BOMBS))
def test_a_decompression_bomb_ends_the_connection_in_bounded_memory(
        hostile: Callable[[str], HostileServer], name: str) -> None:
    server = hostile(name)
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}
    try:
        run = subprocess.run([sys.executable, "-c", CLIENT,
                              f"imap://alice@127.0.0.1:{server.port}", str(MARGIN)],
                             capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: the client was still inflating after 120 s "
                    f"({server.sent >> 20} MB of bomb sent)")
    assert run.returncode == 0, run.stderr[-2000:]
    error, grew = run.stdout.strip().splitlines()
    assert "MemoryError" not in error, error
    expected = "line longer than" if name == "endless line" else "inflates"
    assert error.startswith("ProtocolError: imap://alice@127.0.0.1:") and expected in error, error
    assert int(grew.split()[1]) < MARGIN >> 20
