"""Worker benchmark: 200 mailboxes between two real Dovecot servers on 127.0.0.1, copied by
1, 2 and 4 `mailferry worker` processes (2 mailboxes at once each; store on a throwaway
PostgreSQL, queue on a throwaway redis-server) and, as the peer, by one in-process
`mailferry sync` with as many mailboxes at once (2, 4, 8; store on the SQLite file).

Prints mailboxes/minute, the peak RSS (VmHWM) and CPU seconds of each mailferry process,
and what the shared services carried, per mailbox: PostgreSQL transactions and its most
connections at once, redis-server commands, and the CPU seconds of both. docs/scale-out.md
extrapolates from these. `--mailboxes` and `--messages` make it smaller. 12 minutes on this
2-core machine at load ~10 (the seed included)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis as redis_client
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import Dovecot  # noqa: E402
from testbed.postgres import Postgres  # noqa: E402
from testbed.projectkit import MASTER, Project, fill_in_parallel, org_users  # noqa: E402
from testbed.redis import Redis  # noqa: E402

MAILFERRY = [sys.executable, "-m", "mailferry"]
TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime (and, for a server's master, those of the children it reaped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    if reaped_children:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime
    return used / TICKS


class Watcher:
    """Polls the processes' VmHWM (it only grows) and CPU time, and the store's connections
    (with `database`), until told to stop."""

    def __init__(self, processes: list[subprocess.Popen[bytes]],
                 database: sa.Engine | None = None, name: str = "") -> None:
        self.processes = processes
        self.peaks = [0.0] * len(processes)
        self.cpu = [0.0] * len(processes)
        self.database, self.name = database, name
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.look()

    def look(self) -> None:
        for n, process in enumerate(self.processes):
            self.peaks[n] = max(self.peaks[n], peak_rss_mb(process.pid))
            self.cpu[n] = max(self.cpu[n], cpu_seconds(process.pid))
        if self.database is not None:
            with self.database.connect() as conn:
                found = conn.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                    "AND pid <> pg_backend_pid()"), {"name": self.name}).scalar_one()
            self.connections = max(self.connections, int(found))

    def stop(self) -> None:
        self.look()
        self._stop.set()
        self._thread.join()


@dataclass
class Services:
    """The shared services of the distributed runs, and what they carried."""

    postgres: Postgres
    redis: Redis

    def __post_init__(self) -> None:
        self.admin = sa.create_engine(self.postgres.url, poolclass=sa.pool.NullPool)
        self.broker = redis_client.Redis(host=self.redis.host, port=self.redis.port)

    def postmaster(self) -> int:
        return int((self.postgres.base / "data" / "postmaster.pid").read_text().split()[0])

    def reading(self, database: str) -> dict[str, float]:
        with self.admin.connect() as conn:
            xacts = conn.execute(sa.text(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                "WHERE datname = :name"), {"name": database}).scalar_one()
        assert self.redis.process is not None
        return {"xacts": float(xacts or 0),
                "commands": float(self.broker.info("stats")["total_commands_processed"]),
                "pg_cpu": cpu_seconds(self.postmaster(), reaped_children=True),
                "redis_cpu": cpu_seconds(self.redis.process.pid)}

    def close(self) -> None:
        self.admin.dispose()
        self.broker.close()


def project(root: Path, source: Dovecot, target: Dovecot, users: list, extra: str) -> Path:
    made = Project(root, source, target, users, extra=extra).write()
    made.toml.write_text(made.toml.read_text().replace("max_connections = 8",
                                                       "max_connections = 64"))
    return made.toml


def run_sync(toml: Path, lanes: int) -> tuple[float, Watcher]:
    began = time.monotonic()
    process = subprocess.Popen([*MAILFERRY, "sync", str(toml), "--mailboxes", str(lanes),
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watcher = Watcher([process])
    out, _ = process.communicate()
    seconds = time.monotonic() - began
    watcher.stop()
    assert process.returncode == 0, out[-2000:]
    return seconds, watcher


def run_workers(toml: Path, count: int, logs: Path, services: Services,
                database: str) -> tuple[float, Watcher, dict[str, float]]:
    before = services.reading(database)
    workers = [subprocess.Popen([*MAILFERRY, "worker", str(toml), "--threads", "2"],
                                stdout=subprocess.DEVNULL,
                                stderr=open(logs / f"w{count}-{n}.err", "wb"))  # noqa: SIM115
               for n in range(count)]
    watcher = Watcher(workers, services.admin, database)
    began = time.monotonic()
    done = subprocess.run([*MAILFERRY, "sync", str(toml), "--distributed", "--follow",
                           "--json"], capture_output=True, text=True)
    seconds = time.monotonic() - began
    watcher.stop()
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"], done.stderr[-2000:]
    time.sleep(1)  # the workers' backends end and are reaped (their CPU time counted)
    after = services.reading(database)
    return seconds, watcher, {key: after[key] - before[key] for key in before}


def figures(watcher: Watcher) -> str:
    return "  ".join(f"{rss:.0f} MB/{cpu:.0f} s" for rss, cpu in zip(watcher.peaks,
                                                                    watcher.cpu, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--messages", type=int, default=40)
    args = parser.parse_args()
    users = org_users(args.mailboxes)
    services = Services(Postgres().start(), Redis().start())
    boxes = args.mailboxes
    try:
        with Dovecot(users=users) as source, tempfile.TemporaryDirectory() as work:
            root = Path(work)
            started = time.monotonic()
            fill_in_parallel(source, users, messages=args.messages, sizes=(1000, 12000))
            print(f"seeded {boxes} x {args.messages} messages in "
                  f"{time.monotonic() - started:.0f}s", flush=True)
            print(f"{'run':<24} {'mailboxes/min':>13} {'seconds':>8}  "
                  "per process: peak RSS / CPU", flush=True)
            shared = []
            for count in (1, 2, 4):
                lanes = 2 * count
                with Dovecot(users=users, master=MASTER) as target:
                    toml = project(root / f"sync{count}", source, target, users, "")
                    seconds, watcher = run_sync(toml, lanes)
                print(f"{f'sync, {lanes} at once':<24} {boxes / seconds * 60:>13.0f} "
                      f"{seconds:>8.1f}  {figures(watcher)}", flush=True)
                with Dovecot(users=users, master=MASTER) as target:
                    url = services.postgres.new_database()
                    extra = f'store = "{url}"\nbroker = "{services.redis.url}"\n'
                    toml = project(root / f"workers{count}", source, target, users, extra)
                    logs = root / "logs"
                    logs.mkdir(exist_ok=True)
                    seconds, watcher, used = run_workers(toml, count, logs, services,
                                                         url.rsplit("/", 1)[1])
                print(f"{f'{count} workers x 2 at once':<24} {boxes / seconds * 60:>13.0f} "
                      f"{seconds:>8.1f}  {figures(watcher)}", flush=True)
                shared.append((count, seconds, watcher.connections, used))
            print("\nshared services in the worker runs, per mailbox (and at most at once):")
            print(f"{'workers':>7} {'PG xacts':>9} {'PG conns':>9} {'PG CPU ms':>10} "
                  f"{'redis cmds':>11} {'redis CPU ms':>13}")
            for count, _, connections, used in shared:
                print(f"{count:>7} {used['xacts'] / boxes:>9.0f} {connections:>9} "
                      f"{used['pg_cpu'] * 1000 / boxes:>10.1f} "
                      f"{used['commands'] / boxes:>11.0f} "
                      f"{used['redis_cpu'] * 1000 / boxes:>13.1f}", flush=True)
    finally:
        services.close()
        services.postgres.stop()
        services.redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
