"""The interop matrix: `mailferry copy` (and imapsync beside it) between every ordered pair of
the test bed's IMAP servers, checked by tests/testbed/checker.py (stdlib imaplib + hashlib).

Servers: Dovecot in two layouts ("dovecot-slash": '/', no prefix; "dovecot-dot": "INBOX."
and '.'), pymap, and, when their chroots are built (scripts/testbed-chroot.sh), GNU Mailutils
imap4d, Cyrus and Courier-IMAP. Per source: a fresh server seeded with the matrix mailbox
(testbed/matrix_mailbox.py), read back once: that read-back, not what seeding tried, is what
targets are compared with. Per target and tool, a fresh target:
  1. copy, read the target back, classify every difference (missing, extra, flags, keywords,
     date, body by class);
  2. mailferry: re-run with the same state, then with a fresh state file; imapsync: re-run;
     count the messages each re-run added (duplicates).
The source is read back again at the end: a copy must never change it.

Run: `.venv/bin/python bench/interop_matrix.py [--servers a,b] [--corpus N] [--json FILE]`.
Only 127.0.0.1 is used. imapsync is found through $IMAPSYNC, PATH or /work/peers/imapsync;
without it the imapsync column says so (never downloaded).
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--generated", type=int, default=60)
    parser.add_argument("--corpus", type=int, default=200)
    parser.add_argument("--tools", default="mailferry,imapsync")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    servers = args.servers.split(",") if args.servers else available_servers()
    tools = tuple(args.tools.split(","))
    if "imapsync" in tools and find_imapsync() is None:
        print("imapsync not found ($IMAPSYNC, PATH, /work/peers/imapsync): column skipped")
    started = time.monotonic()
    results, refusals = run_matrix(servers, matrix_mailbox(generated=args.generated,
                                                           corpus=args.corpus), tools=tools)
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
