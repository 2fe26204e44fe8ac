"""users.csv loading: time per user as the file grows, to catch anything quadratic (the
duplicate checks look each name up; a list instead of a dict would show here, not in tests).

Loads files of 5,000, 20,000 and 80,000 users and prints the time per user for each size and
the ratio of the largest to the smallest. A linear loader keeps the ratio near 1; a quadratic
one multiplies it by 16. Timing lives here, not in the test suite (two busy cores make
wall-clock limits in tests flaky).
Run: `.venv/bin/python bench/users_csv_bench.py`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mailferry.project import load_users


def _write(path: Path, count: int) -> None:
    path.write_text("source_user,target_user,department,wave\n" + "".join(
        f"user{n}@old.example,user{n}@new.example,dept{n % 40},wave{n % 10}\n"
        for n in range(count)))


def per_user_seconds(count: int, repeats: int = 3) -> float:
    with tempfile.TemporaryDirectory(prefix="mf-users-bench-") as directory:
        path = Path(directory) / "users.csv"
        _write(path, count)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            users = load_users(path)
            best = min(best, time.perf_counter() - started)
            assert len(users) == count
        return best / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 20_000, 80_000])
    args = parser.parse_args()
    times = {count: per_user_seconds(count) for count in args.sizes}
    for count, seconds in times.items():
        print(f"{count:>7} users: {seconds * 1e6:7.2f} us per user, "
              f"{seconds * count * 1000:8.1f} ms in all")
    smallest, largest = min(times), max(times)
    ratio = times[largest] / times[smallest]
    print(f"per-user time, {largest} vs {smallest} users: x{ratio:.2f} "
          f"({'linear' if ratio < 3 else 'GROWS WITH THE FILE: look for a quadratic step'})")
    return 0 if ratio < 3 else 1


if __name__ == "__main__":
    sys.exit(main())
