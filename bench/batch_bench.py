"""Batch benchmark: 100 mailboxes x 200 messages between two real Dovecot servers on
127.0.0.1 (master-user login on the target), copied with 1, 4 and 16 mailboxes at once.
Prints mailboxes/minute, messages/s and this process's peak RSS. A few minutes in all;
`--mailboxes`/`--messages` make it smaller."""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import Dovecot  # noqa: E402
from testbed.projectkit import MASTER, EventLog, Project, fill, org_users, run_batch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    users = org_users(args.mailboxes)
    with Dovecot(users=users) as source:
        started = time.monotonic()
        threads = [threading.Thread(target=fill, args=(source, users[n::4]),
                                    kwargs={"messages": args.messages, "sizes": (1000, 12000)})
                   for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(f"seeded {args.mailboxes} x {args.messages} messages in "
              f"{time.monotonic() - started:.0f}s", flush=True)
        print(f"{'at once':>8} {'mailboxes/min':>14} {'messages/s':>11} {'seconds':>8}")
        for lanes in (1, 4, 16):
            with Dovecot(users=users, master=MASTER) as target, \
                    tempfile.TemporaryDirectory() as workdir:
                project = Project(Path(workdir), source, target, users,
                                  extra=f"mailboxes = {lanes}\nworkers = 2\n").write()
                project.toml.write_text(project.toml.read_text().replace(
                    "max_connections = 8", f"max_connections = {2 * lanes}"))
                began = time.monotonic()
                result = run_batch(project.toml, EventLog())
                seconds = time.monotonic() - began
                copied = sum(o.copied for o in result.outcomes.values())
                assert result.exit_status == 0, result
                print(f"{lanes:>8} {len(result.outcomes) / seconds * 60:>14.0f} "
                      f"{copied / seconds:>11.0f} {seconds:>8.1f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (mailferry in-process): {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
