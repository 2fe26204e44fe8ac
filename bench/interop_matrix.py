"""Prints the interop matrix: `mailferry copy` and imapsync side by side between every ordered
pair of the test bed's IMAP servers (Dovecot in two layouts, pymap, and imap4d, Cyrus and
Courier-IMAP when scripts/testbed-chroot.sh has built their chroots), checked independently.
What a pair runs and how it is judged: tests/testbed/matrix.py; the servers: docs/interop.md.

Run: `.venv/bin/python bench/interop_matrix.py [--servers a,b] [--corpus N] [--json FILE]`.
Only 127.0.0.1 is used. imapsync is found through $IMAPSYNC, PATH or /work/peers/imapsync;
without it the imapsync column says so (never downloaded).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed.matrix import available_servers, find_imapsync, run_matrix  # noqa: E402
from testbed.matrix_mailbox import matrix_mailbox  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", help="comma-separated (default: every available one)")
    parser.add_argument("--sources", help="comma-separated sources (default: every server)")
    parser.add_argument("--generated", type=int, default=60)
    parser.add_argument("--corpus", type=int, default=200)
    parser.add_argument("--tools", default="mailferry,imapsync")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    # stopped from a script (SIGINT is ignored in background jobs): still stop every server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    servers = args.servers.split(",") if args.servers else available_servers()
    tools = tuple(args.tools.split(","))
    if "imapsync" in tools and find_imapsync() is None:
        print("imapsync not found ($IMAPSYNC, PATH, /work/peers/imapsync): column skipped")
    started = time.monotonic()
    results, refusals = run_matrix(servers, matrix_mailbox(generated=args.generated,
                                                           corpus=args.corpus), tools=tools,
                                   sources=args.sources.split(",") if args.sources else None)
    print(f"\n{len(results)} runs in {time.monotonic() - started:.0f} s; servers: "
          + ", ".join(servers))
    for name, refused in refusals.items():
        print(f"seeding {name}: {len(refused)} refusals"
              + "".join(f"\n    {line[:200]}" for line in refused[:6]))
    if args.json:
        args.json.write_text(json.dumps({
            "results": [{**asdict(r), "passes": r.passes, "unreported": r.unreported}
                        for r in results], "refusals": refusals}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
