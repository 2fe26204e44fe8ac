"""Batch benchmark: 100 mailboxes x 200 messages between two real Dovecot servers on
127.0.0.1 (master-user login on the target), copied with 1, 4 and 16 mailboxes at once.
Prints mailboxes/minute, messages/s and this process's peak RSS; then imapsync on the same
mailboxes the way admins run it for many users (a shell loop, a few processes at once), in
the same run. A few minutes in all; `--mailboxes`/`--messages` make it smaller."""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from copy_bench import compile_bytecode  # noqa: E402

from testbed import Dovecot, DovecotUser  # noqa: E402
from testbed.matrix import find_imapsync  # noqa: E402
from testbed.projectkit import MASTER, EventLog, Project, fill, org_users, run_batch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--imapsync-parallel", type=int, default=4, metavar="N",
                        help="imapsync processes at once, as an admin's shell loop runs them "
                        "(0: no imapsync)")
    args = parser.parse_args()
    compile_bytecode()
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
        best = float("inf")
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
                best = min(best, seconds)
        tool = find_imapsync() if args.imapsync_parallel else None
        if tool is not None:
            seconds, copied = imapsync_loop(tool, source, users, args.imapsync_parallel)
            print(f"imapsync, {args.imapsync_parallel} at once (a shell loop): "
                  f"{len(users) / seconds * 60:.0f} mailboxes/min, {copied / seconds:.0f} "
                  f"messages/s, {seconds:.1f} s; mailferry's best is {seconds / best:.1f}x "
                  "as fast", flush=True)
        elif args.imapsync_parallel:
            print("imapsync not found ($IMAPSYNC, PATH, /work/peers/imapsync): not run")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (mailferry in-process): {peak:.0f} MB")
    return 0


def imapsync_loop(tool: str, source: Dovecot, users: list[DovecotUser],
                  parallel: int) -> tuple[float, int]:
    """Every mailbox with imapsync, `parallel` processes at once (what `xargs -P` over a
    users file does): seconds, messages transferred."""
    with Dovecot(users=users) as target, tempfile.TemporaryDirectory() as workdir:
        def one(user: DovecotUser) -> int:
            passfile = Path(workdir) / user.name
            passfile.write_text(user.password + "\n")
            done = subprocess.run(
                [tool, "--host1", source.host, "--port1", str(source.port), "--user1",
                 user.name, "--passfile1", str(passfile), "--host2", target.host, "--port2",
                 str(target.port), "--user2", user.name, "--passfile2", str(passfile),
                 "--nossl1", "--nossl2", "--notls1", "--notls2", "--nolog",
                 "--noreleasecheck", "--tmpdir", workdir],
                capture_output=True, text=True, check=False)
            return sum(int(line.split(":")[1].split()[0]) for line in done.stdout.splitlines()
                       if line.startswith("Messages transferred"))

        began = time.monotonic()
        with ThreadPoolExecutor(parallel) as pool:
            copied = sum(pool.map(one, users))
        return time.monotonic() - began, copied


if __name__ == "__main__":
    sys.exit(main())
