"""Worker benchmark: 200 mailboxes between two real Dovecot servers on 127.0.0.1, copied by
1, 2 and 4 `mailferry worker` processes (2 mailboxes at once each; store on a throwaway
PostgreSQL, queue on a throwaway redis-server) and, as the peer, by one in-process
`mailferry sync` with as many mailboxes at once (2, 4, 8; store on the SQLite file).
Prints mailboxes/minute and the peak RSS of each process (VmHWM). `--mailboxes` and
`--messages` make it smaller. Ten minutes or so on an idle 2-core machine."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import Dovecot  # noqa: E402
from testbed.postgres import Postgres  # noqa: E402
from testbed.projectkit import MASTER, Project, fill_in_parallel, org_users  # noqa: E402
from testbed.redis import Redis  # noqa: E402

MAILFERRY = [sys.executable, "-m", "mailferry"]


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakWatcher:
    """Polls the processes' VmHWM (it only grows) until told to stop."""

    def __init__(self, processes: list[subprocess.Popen[bytes]]) -> None:
        self.processes = processes
        self.peaks = [0.0] * len(processes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.look()

    def look(self) -> None:
        for n, process in enumerate(self.processes):
            self.peaks[n] = max(self.peaks[n], peak_rss_mb(process.pid))

    def stop(self) -> list[float]:
        self.look()
        self._stop.set()
        self._thread.join()
        return self.peaks


def project(root: Path, source: Dovecot, target: Dovecot, users: list, extra: str) -> Path:
    made = Project(root, source, target, users, extra=extra).write()
    made.toml.write_text(made.toml.read_text().replace("max_connections = 8",
                                                       "max_connections = 64"))
    return made.toml


def run_sync(toml: Path, lanes: int) -> tuple[float, list[float]]:
    began = time.monotonic()
    process = subprocess.Popen([*MAILFERRY, "sync", str(toml), "--mailboxes", str(lanes),
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watcher = PeakWatcher([process])
    out, _ = process.communicate()
    seconds = time.monotonic() - began
    peaks = watcher.stop()
    assert process.returncode == 0, out[-2000:]
    return seconds, peaks


def run_workers(toml: Path, count: int, logs: Path) -> tuple[float, list[float]]:
    workers = [subprocess.Popen([*MAILFERRY, "worker", str(toml), "--threads", "2"],
                                stdout=subprocess.DEVNULL,
                                stderr=open(logs / f"w{count}-{n}.err", "wb"))  # noqa: SIM115
               for n in range(count)]
    watcher = PeakWatcher(workers)
    began = time.monotonic()
    done = subprocess.run([*MAILFERRY, "sync", str(toml), "--distributed", "--follow",
                           "--json"], capture_output=True, text=True)
    seconds = time.monotonic() - began
    peaks = watcher.stop()
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["ok"], done.stderr[-2000:]
    return seconds, peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--messages", type=int, default=40)
    args = parser.parse_args()
    users = org_users(args.mailboxes)
    postgres, redis = Postgres().start(), Redis().start()
    try:
        with Dovecot(users=users) as source, tempfile.TemporaryDirectory() as work:
            root = Path(work)
            started = time.monotonic()
            fill_in_parallel(source, users, messages=args.messages, sizes=(1000, 12000))
            print(f"seeded {args.mailboxes} x {args.messages} messages in "
                  f"{time.monotonic() - started:.0f}s", flush=True)
            print(f"{'run':<26} {'mailboxes/min':>14} {'seconds':>8}  peak RSS per process (MB)")
            for count in (1, 2, 4):
                lanes = 2 * count
                with Dovecot(users=users, master=MASTER) as target:
                    toml = project(root / f"sync{count}", source, target, users, "")
                    seconds, peaks = run_sync(toml, lanes)
                print(f"{f'sync, {lanes} at once':<26} {args.mailboxes / seconds * 60:>14.0f} "
                      f"{seconds:>8.1f}  {' '.join(f'{p:.0f}' for p in peaks)}", flush=True)
                with Dovecot(users=users, master=MASTER) as target:
                    extra = (f'store = "{postgres.new_database()}"\n'
                             f'broker = "{redis.url}"\n')
                    toml = project(root / f"workers{count}", source, target, users, extra)
                    logs = root / "logs"
                    logs.mkdir(exist_ok=True)
                    seconds, peaks = run_workers(toml, count, logs)
                print(f"{f'{count} workers x 2 at once':<26} "
                      f"{args.mailboxes / seconds * 60:>14.0f} {seconds:>8.1f}  "
                      f"{' '.join(f'{p:.0f}' for p in peaks)}", flush=True)
    finally:
        postgres.stop()
        redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
