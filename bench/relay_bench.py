"""Relay benchmark: sustained load through `mailferry relay` to two Dovecot LMTP upstreams.

Starts two throwaway Dovecot servers with LMTP, then `mailferry relay` as a real process
(spool on disk, fsync on, every recipient routed to both upstreams), and has `--clients`
SMTP clients each send their share of `--messages` over one persistent connection.
Reports: messages/s accepted (250s over the sending time), messages/s delivered (every
message stored by both upstreams, counted over IMAP), p50/p99 accept latency (DATA sent
to 250), peak RSS of the relay and of its delivery process, the CPU time each process
used per message (steadier than messages/s on a shared machine), and whether every message
arrived exactly once on each upstream. Postfix is not compared (see the closing note in
README's relay section). Only 127.0.0.1 is used.
Run: `.venv/bin/python bench/relay_bench.py [--messages 5000] [--clients 10] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import Dovecot, DovecotUser, free_port, imap_login  # noqa: E402
from testbed.net import wait_for_port  # noqa: E402

USERS = [DovecotUser(f"user{n}", "bench-pw") for n in range(10)]


def make_message(client: int, n: int, size: int) -> bytes:
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = line * max(1, size // len(line))
    return (b"From: load <load@outside.example>\r\nTo: someone@bank.example\r\n"
            b"Subject: relay bench %d/%d\r\nMessage-ID: <bench-%d-%d@bench.example>\r\n"
            b"\r\n" % (client, n, client, n)) + body


def client_load(port: int, client: int, count: int, size: int, latencies: list[float]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        smtp.ehlo("bench.example")
        for n in range(count):
            user = USERS[(client + n) % len(USERS)].name
            raw = make_message(client, n, size)
            smtp.mail("load@outside.example")
            smtp.rcpt(f"{user}@bank.example")
            start = time.perf_counter()
            code, reply = smtp.data(raw)
            latencies.append(time.perf_counter() - start)
            if code != 250:
                raise RuntimeError(f"relay refused a message: {code} {reply!r}")


def message_ids(server: Dovecot) -> Counter[str]:
    seen: Counter[str] = Counter()
    for user in USERS:
        conn = imap_login(server.host, server.port, user.name, user.password)
        _, data = conn.select("INBOX", readonly=True)
        if int(data[0] or 0):
            _, items = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            seen.update(item[1].decode().split(":", 1)[1].strip() for item in items
                        if isinstance(item, tuple))
        conn.logout()
    return seen


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(messages: int, clients: int, size: int, upstream_connections: int, workdir: Path
        ) -> dict[str, Any]:
    old = Dovecot(lmtp=True, users=USERS).start()
    new = Dovecot(lmtp=True, users=USERS).start()
    relay: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        (workdir / "migration.toml").write_text(
            "[relay]\n"
            f'listen = "127.0.0.1:{port}"\nspool = "./spool"\ndomains = ["bank.example"]\n'
            f'old = "lmtp://127.0.0.1:{old.lmtp_port}"\nnew = "lmtp://127.0.0.1:{new.lmtp_port}"\n'
            'default_route = "both"\nhostname = "relay.bank.example"\n'
            f"upstream_connections = {upstream_connections}\n")
        with open(workdir / "relay.log", "wb") as log:
            relay = subprocess.Popen([sys.executable, "-m", "mailferry", "relay",
                                      str(workdir / "migration.toml")],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for_port("127.0.0.1", port, timeout=20)
        latencies: list[float] = []
        per_client = messages // clients
        threads = [threading.Thread(target=client_load,
                                    args=(port, c, per_client, size, latencies))
                   for c in range(clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        accept_seconds = time.perf_counter() - start
        total = per_client * clients
        if len(latencies) != total:
            raise RuntimeError(f"only {len(latencies)} of {total} messages were accepted")
        # the relay's own counters say when it is done (polling IMAP would load Dovecot);
        # the IMAP read-back below checks them
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = json.loads((workdir / "spool" / "delivery-status.json").read_text())
            delivered = status["metrics"]["delivered"]
            if min(delivered.get("old", 0), delivered.get("new", 0)) >= total:
                break
            time.sleep(0.05)
        deliver_seconds = time.perf_counter() - start
        rss = {"relay": peak_rss_mb(relay.pid), "delivery": peak_rss_mb(status["pid"])}
        cpu = {"relay": cpu_seconds(relay.pid), "delivery": cpu_seconds(status["pid"])}
        relay.send_signal(signal.SIGTERM)
        relay.wait(120)
        copies = {name: message_ids(server) for name, server in (("old", old), ("new", new))}
        latencies.sort()
        return {
            "messages": total, "clients": clients, "upstream_connections": upstream_connections,
            "message_bytes": len(make_message(0, 0, size)),
            "accepted_per_s": round(total / accept_seconds, 1),
            "delivered_to_both_per_s": round(total / deliver_seconds, 1),
            "accept_latency_ms": {
                "p50": round(statistics.median(latencies) * 1000, 2),
                "p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2)},
            "peak_rss_mb": {k: round(v, 1) for k, v in rss.items()},
            "cpu_ms_per_message": {k: round(v * 1000 / total, 2) for k, v in cpu.items()},
            "exactly_once": {name: len(seen) == total and max(seen.values()) == 1
                             for name, seen in copies.items()},
            "relay_exit": relay.returncode,
        }
    finally:
        if relay is not None and relay.poll() is None:
            relay.kill()
        old.cleanup()
        new.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--size", type=int, default=4000, help="body bytes per message")
    parser.add_argument("--upstream-connections", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mf-relay-bench-") as tmp:
        result = run(args.messages, args.clients, args.size, args.upstream_connections,
                     Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['messages']} messages of {result['message_bytes']} bytes, "
          f"{result['clients']} clients, both upstreams, fsync on")
    print(f"  accepted:  {result['accepted_per_s']} msgs/s")
    print(f"  delivered to both upstreams: {result['delivered_to_both_per_s']} msgs/s")
    latency = result["accept_latency_ms"]
    print(f"  accept latency: p50 {latency['p50']} ms, p99 {latency['p99']} ms")
    print(f"  peak RSS: {result['peak_rss_mb']}")
    print(f"  CPU per message (ms): {result['cpu_ms_per_message']}")
    print(f"  exactly once per upstream: {result['exactly_once']}")


if __name__ == "__main__":
    main()
