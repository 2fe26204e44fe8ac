"""The mutation score per module, from what `mutmut run` left in mutants/ (run by
`make mutation`; see docs/mutation.md).

A mutant is killed when a test failed (or timed out: an endless loop is caught too),
survived when every test passed, untested when no selected test reached its function. The
score is killed / (killed + survived + untested). Survivors are listed by name; `mutmut show
NAME` prints the change. Exit 1 when the overall score is below --minimum.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255, 37}
SURVIVED = {0}
UNTESTED = {5, 33, None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--minimum", type=float, default=90.0)
    parser.add_argument("--list", action="store_true", help="name every surviving mutant")
    args = parser.parse_args()
    metas = sorted(args.mutants.glob("src/**/*.py.meta"))
    if not metas:
        print(f"no mutation results in {args.mutants}: run `make mutation`", file=sys.stderr)
        return 2
    totals: Counter[str] = Counter()
    survivors: list[str] = []
    print(f"{'module':<44} {'mutants':>7} {'killed':>7} {'survived':>8} {'untested':>8} "
          f"{'score':>6}")
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts: Counter[str] = Counter()
        for name, code in codes.items():
            kind = ("killed" if code in KILLED else "survived" if code in SURVIVED
                    else "untested" if code in UNTESTED else "other")
            counts[kind] += 1
            if kind in ("survived", "untested"):
                survivors.append(f"{name} ({kind})")
        judged = counts["killed"] + counts["survived"] + counts["untested"]
        module = str(meta.relative_to(args.mutants / "src")).removesuffix(".meta")
        score = 100.0 * counts["killed"] / judged if judged else 100.0
        print(f"{module:<44} {len(codes):>7} {counts['killed']:>7} {counts['survived']:>8} "
              f"{counts['untested']:>8} {score:>5.1f}%")
        totals.update(counts)
    judged = totals["killed"] + totals["survived"] + totals["untested"]
    overall = 100.0 * totals["killed"] / judged if judged else 100.0
    print(f"{'all':<44} {sum(totals.values()):>7} {totals['killed']:>7} "
          f"{totals['survived']:>8} {totals['untested']:>8} {overall:>5.1f}%")
    if args.list:
        print("\n".join(survivors))
    return 0 if overall >= args.minimum else 1


if __name__ == "__main__":
    sys.exit(main())
