"""A TCP fault proxy: forwards 127.0.0.1:port -> upstream and cuts connections on demand.

`cut_after(up=N)` closes the next connection once N bytes went client->server (mid-APPEND),
`cut_after(down=N)` once N bytes went server->client (mid-FETCH). Each cut fires once.
`record=True` keeps what clients sent (to count the commands a run costs); `on_down` and
`on_up` see each chunk either way, before it is passed on (a test can SIGKILL the client
as an APPEND's answer arrives, before it reads it, or in the middle of uploading one).
`hold_down_at(marker, count)` forwards the server's bytes up to the end of the count-th
`marker` and holds the rest until released:
the client has exactly what came before, so a test can look at what it did with that and
then kill it at that point of the stream.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass


class Hold:
    """Holds a server->client stream after the count-th `marker` of any one connection (the
    first to get there; a client may open and close others before); `reached` is set then."""

    def __init__(self, marker: bytes, count: int) -> None:
        self.marker = marker
        self.count = count
        self.reached = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()

    def counter(self) -> _MarkerCounter:
        return _MarkerCounter(self.marker, self.count)

    def take(self) -> bool:
        """True for the one connection that holds (the first one to reach the count)."""
        with self._lock:
            if self.reached.is_set():
                return False
            self.reached.set()
            return True

    def wait(self) -> None:
        self._release.wait()

    def release(self) -> None:
        self._release.set()


class _MarkerCounter:
    """Counts a marker along one stream, across chunk boundaries."""

    def __init__(self, marker: bytes, count: int) -> None:
        self.marker = marker
        self.count = count
        self.seen = 0
        self._tail = b""  # the last bytes of the previous chunk: a marker may straddle

    def split(self, data: bytes) -> int | None:
        """Bytes of `data` up to the end of the count-th marker, or None if not in it."""
        window = self._tail + data
        start = 0
        while (found := window.find(self.marker, start)) >= 0:
            start = found + len(self.marker)
            self.seen += 1
            if self.seen == self.count:
                return start - len(self._tail)
        self._tail = window[len(window) - len(self.marker) + 1:] if len(self.marker) > 1 else b""
        return None


@dataclass
class _Cut:
    up: int | None
    down: int | None
    skip_connections: int = 0


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1", *,
                 record: bool = False,
                 on_down: Callable[[bytes], None] | None = None,
                 on_up: Callable[[bytes], None] | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((host, 0))
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._cuts: list[_Cut] = []
        self._lock = threading.Lock()
        self._closed = False
        self.connections = 0
        self.open_now = 0  # connections not yet closed
        self.most_open = 0  # the most open at once
        self.cuts_done = 0
        self._sockets: set[socket.socket] = set()
        self.record = record
        self.sent = bytearray()  # client -> server, when recording
        self.on_down = on_down
        self.on_up = on_up
        self.throttle_appends = 0  # answer this many APPENDs "NO [UNAVAILABLE] try again later"
        self.throttled = 0
        self.parse_appends = False  # follow APPENDs on each connection: throttle them later
        self._holds: list[Hold] = []
        self._pumping = 0  # pump threads still forwarding (two per connection)
        self._pumps_done = threading.Condition(self._lock)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def cut_after(self, *, up: int | None = None, down: int | None = None,
                  skip_connections: int = 0) -> None:
        """Cut a future connection after `up`/`down` bytes; `skip_connections` passes some first."""
        with self._lock:
            self._cuts.append(_Cut(up, down, skip_connections))

    def hold_down_at(self, marker: bytes, count: int) -> Hold:
        """Hold the next connection's server->client stream after its count-th `marker`."""
        hold = Hold(marker, count)
        with self._lock:
            self._holds.append(hold)
        return hold

    def wait_closed(self, timeout: float = 10) -> None:
        """Until every connection so far is closed and all it sent is passed on: a counter
        reset after a client process exits would otherwise see its last bytes (the LOGOUT a
        busy proxy thread forwards late) as the next run's."""
        with self._pumps_done:
            if not self._pumps_done.wait_for(lambda: self._pumping == 0, timeout=timeout):
                raise TimeoutError(f"{self._pumping} proxy pumps still running")

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for hold in self._holds:
                hold.release()
        self._listener.close()
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take_cut(self) -> _Cut | None:
        with self._lock:
            for cut in self._cuts:
                if cut.skip_connections > 0:
                    cut.skip_connections -= 1
                    continue
                self._cuts.remove(cut)
                return cut
        return None

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            self.connections += 1
            cut = self._take_cut()
            with self._lock:
                self._sockets.update((client, server))
            state = {"done": False}
            throttle = (_AppendThrottle(self, client)
                        if self.throttle_appends or self.parse_appends else None)
            with self._lock:
                hold = next((h for h in self._holds if not h.reached.is_set()), None)
                self._pumping += 2
                self.open_now += 1
                self.most_open = max(self.most_open, self.open_now)
            threading.Thread(target=self._pump, args=(client, server, cut.up if cut else None,
                             state, True, throttle), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, cut.down if cut else None,
                             state, False, None, hold), daemon=True).start()

    def commands(self) -> list[str]:
        """Command names clients sent (`UID FETCH`, `STATUS`, ...), from the recorded bytes."""
        names = []
        for line in bytes(self.sent).split(b"\r\n"):
            words = line.split(b" ")
            if len(words) >= 2 and words[0][:1].isalpha() and words[0][1:].isdigit():
                verb = words[1].upper().decode(errors="replace")
                if verb == "UID" and len(words) > 2:
                    verb += " " + words[2].upper().decode(errors="replace")
                names.append(verb)
        return names

    def take_throttle(self) -> bool:
        with self._lock:
            if self.throttle_appends <= 0:
                return False
            self.throttle_appends -= 1
            self.throttled += 1
            return True

    def _pump(self, src: socket.socket, dst: socket.socket, limit: int | None,
              state: dict[str, bool], upstream: bool,
              throttle: _AppendThrottle | None = None, hold: Hold | None = None) -> None:
        sent = 0
        counter = hold.counter() if hold is not None else None
        try:
            while True:
                want = 65536 if limit is None else max(1, min(65536, limit - sent))
                data = src.recv(want)
                if not data:
                    break
                at = counter.split(data) if counter is not None else None
                if hold is not None and at is not None:
                    counter = None
                    if hold.take():
                        dst.sendall(data[:at])
                        hold.wait()
                        data = data[at:]
                        if not data:
                            continue
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    self.cuts_done += 1
                    break
                # seen before it is passed on: the other side cannot answer it first (a
                # round-trip count would merge turns; a kill "on APPENDUID" would come late)
                if upstream and self.record:
                    with self._lock:
                        self.sent += data
                if not upstream and self.on_down is not None:
                    self.on_down(data)
                if upstream and self.on_up is not None:
                    self.on_up(data)
                dst.sendall(throttle.feed(data) if throttle else data)
                sent += len(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)
            with self._pumps_done:
                if not state["done"]:  # the first of its two pumps to end closes it
                    state["done"] = True
                    self.open_now -= 1
                self._pumping -= 1
                self._pumps_done.notify_all()


BUSY = b" NO [UNAVAILABLE] Server busy, try again later\r\n"


class _AppendThrottle:
    """Plays a busy server (Microsoft 365, Gmail) on the client->server stream: whole APPEND
    commands, literals included, are swallowed and answered "NO [UNAVAILABLE]"."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.buffer = b""
        self.literal_left = 0
        self.in_command = False
        self.swallowing = False
        self.tag = b""

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        self.buffer += data
        while self.buffer:
            if self.literal_left:
                chunk = self.buffer[: self.literal_left]
                self.buffer = self.buffer[len(chunk):]
                self.literal_left -= len(chunk)
                if not self.swallowing:
                    out += chunk
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[: end + 2], self.buffer[end + 2:]
            if not self.in_command:
                words = line.split(b" ", 2)
                self.in_command = True
                self.tag = words[0]
                self.swallowing = (len(words) > 1 and words[1].upper() == b"APPEND"
                                   and self.proxy.take_throttle())
            if not self.swallowing:
                out += line
            marker = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            if marker:
                self.literal_left = int(marker.group(1))
                continue
            self.in_command = False
            if self.swallowing:
                self.swallowing = False
                self.client.sendall(self.tag + BUSY)
        return bytes(out)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Tally:
    """A count one proxy thread raises and another waits on: a test holds one stream until
    the client has sent something on another (or `timeout` passed: `reached` says no)."""

    def __init__(self, timeout: float = 5) -> None:
        self.count = 0
        self.timeout = timeout
        self._changed = threading.Condition()

    def add(self, n: int) -> None:
        with self._changed:
            self.count += n
            self._changed.notify_all()

    def reached(self, wanted: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= wanted, timeout=self.timeout)


class Turns:
    """The client's turns through a FaultProxy (pass `up` and `down` as on_up and on_down):
    each time it spoke after the server had is a round trip; `said` keeps what it sent in
    each turn."""

    def __init__(self) -> None:
        self.count = 0
        self.said: list[bytes] = []
        self._server_last = True  # the greeting comes first
        self._lock = threading.Lock()

    def up(self, data: bytes) -> None:
        with self._lock:
            self.count += self._server_last
            if self._server_last:
                self.said.append(b"")
            self.said[-1] += data
            self._server_last = False

    def down(self, _data: bytes) -> None:
        with self._lock:
            self._server_last = True

    def reset(self) -> None:
        with self._lock:
            self.count, self.said = 0, []

    def with_verb(self, verb: bytes) -> int:
        """In how many turns the client sent `verb` (as a command: after its tag)."""
        return sum(1 for said in self.said if b" " + verb + b" " in said)
