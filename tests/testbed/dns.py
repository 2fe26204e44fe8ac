"""A throwaway Knot DNS (Debian package knot) serving zones written by the test, on a free
loopback port for UDP and TCP. Started as a foreground process, stopped by its pid."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode


def _knotd() -> str:
    path = shutil.which("knotd") or "/usr/sbin/knotd"
    if not Path(path).exists():
        raise RuntimeError("knotd is not installed: run `make setup` (Debian package knot)")
    return path


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (DNS listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port")


def zone_text(origin: str, records: str, ttl: int = 3600) -> str:
    """A zone with SOA and NS records in front of `records` (zone-file lines)."""
    return (f"$ORIGIN {origin}.\n$TTL {ttl}\n"
            f"@ IN SOA ns1.{origin}. hostmaster.{origin}. 2026010101 3600 600 86400 300\n"
            f"@ IN NS ns1.{origin}.\nns1 IN A 127.0.0.1\n{records}\n")


@dataclass
class KnotDns:
    zones: dict[str, str]  # origin -> full zone file text
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mf-knot-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> KnotDns:
        for directory in ("run", "db", "zones"):
            (self.base / directory).mkdir(parents=True, exist_ok=True)
        for origin, text in self.zones.items():
            (self.base / "zones" / f"{origin}.zone").write_text(text)
        for _attempt in range(3):
            self.port = free_udp_tcp_port()
            (self.base / "knot.conf").write_text(self._config())
            log = (self.base / "knot.log").open("wb")
            self.process = subprocess.Popen([_knotd(), "-c", str(self.base / "knot.conf")],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            log.close()
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"knotd did not start:\n{(self.base / 'knot.log').read_text()[-3000:]}")

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            if all(self._serves(origin) for origin in self.zones):
                return True
            time.sleep(0.05)
        return False

    def _serves(self, origin: str) -> bool:
        query = dns.message.make_query(origin, "SOA")
        try:
            reply = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.3)
        except (OSError, dns.exception.Timeout):
            return False
        return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def _config(self) -> str:
        zones = "".join(f"  - domain: {origin}\n    file: {origin}.zone\n" for origin in self.zones)
        return f"""# written by mailferry's test bed; throwaway
server:
    rundir: "{self.base}/run"
    listen: 127.0.0.1@{self.port}
database:
    storage: "{self.base}/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{self.base}/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
{zones}"""
