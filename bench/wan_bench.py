"""WAN benchmark (issue 16 §2, §3): the copy bench's mailbox through emulated links
(testbed.link: a one-way delay and an optional rate cap, both directions), mailferry against
mbsync, Dovecot's dsync (imapc) and imapsync through the same links, in one run.

Cases (RTT = twice the one-way delay):
  far-source   source 50 ms away, target 2 ms: initial copy, a no-change re-run, and a
               delta (a re-run once 10 new messages arrived; the source drops them after)
  both-far     source and target 50 ms away: the same three
  thin-pipe    source behind 20 Mbit/s (2 ms), target 2 ms; both Dovecots offer
               COMPRESS=DEFLATE: mailferry by default (--compress auto: once the link proves
               slow), never and always; imapsync with it on the source (--compress1), mbsync
               and dsync (neither speaks COMPRESS). Elsewhere mailferry runs by default too.
Each copy is checked (sha256 of BODY[], flags, INTERNALDATE per folder, as copy_bench).
The tools run `--rounds` times (2 by default), in the reverse order every other round, and
each tool's best is compared: the first copy out of a freshly seeded source pays for
Dovecot building its caches (~1 s more, whichever tool it is), which a single round put on
mailferry alone.
Only 127.0.0.1 is used; imapsync is found through $IMAPSYNC, PATH or /work/peers/imapsync
(its column is skipped without it). Run: `.venv/bin/python bench/wan_bench.py --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from copy_bench import (  # noqa: E402
    PASSWORD,
    compare,
    compile_bytecode,
    generate,
    mbsync_config,
    seed_fast,
    timed,
)

from testbed import Dovecot, DovecotUser, imap_login, snapshot  # noqa: E402
from testbed.basekit import put  # noqa: E402
from testbed.link import Link  # noqa: E402
from testbed.matrix import find_imapsync  # noqa: E402
from testbed.messages import make_message  # noqa: E402
from testbed.seed import SeedMessage  # noqa: E402

DELTA = 10  # new messages in a delta
CASES = {  # one-way delays (s) and rate (bit/s) of the source's and the target's link
    "far-source": (0.025, 0.001, None),
    "both-far": (0.025, 0.025, None),
    "thin-pipe": (0.001, 0.001, 20e6),
}


@dataclass
class Row:
    case: str
    tool: str
    seconds: float
    rerun: float | None
    exact: str
    delta: float | None = None  # a re-run once 10 new messages arrived


Run = Callable[[], float]  # one run of a tool's command: its wall seconds


def mailferry(source: int, target: int, user: str, work: Path, compress: str) -> Run:
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": PASSWORD,
           "MAILFERRY_TARGET_PASSWORD": PASSWORD}
    args = [str(REPO / ".venv/bin/mailferry"), "copy", f"imap://alice@127.0.0.1:{source}",
            f"imap://{user}@127.0.0.1:{target}", "--state", str(work / f"{user}.db"),
            "--compress", compress, "--json"]
    return lambda: timed(args, env)[0]


def mbsync(source: int, target: int, user: str, work: Path) -> Run:
    config = mbsync_config(source, target, user, work, extra="PipelineDepth 50")
    return lambda: timed(["mbsync", "-q", "-c", str(config), "copy"])[0]


def dsync(target_server: Dovecot, source: int, user: str) -> Run:
    # dsync runs inside the target's Dovecot: only the source side goes through a link
    args = ["doveadm", "-c", str(target_server.base / "dovecot.conf"),
            "-o", "imapc_host=127.0.0.1", "-o", f"imapc_port={source}",
            "-o", "imapc_user=alice", "-o", f"imapc_password={PASSWORD}",
            "-o", "imapc_features=rfc822.size fetch-headers modseq",
            "-o", "mail_prefetch_count=20", "backup", "-R", "-u", user, "imapc:"]
    return lambda: timed(args)[0]


def imapsync(tool: str, source: int, target: int, user: str, work: Path,
             compress: bool) -> Run:
    passfile = work / "imapsync-pass"
    passfile.write_text(PASSWORD + "\n")
    args = [tool, "--host1", "127.0.0.1", "--port1", str(source), "--user1", "alice",
            "--passfile1", str(passfile), "--host2", "127.0.0.1", "--port2", str(target),
            "--user2", user, "--passfile2", str(passfile), "--nossl1", "--nossl2",
            "--notls1", "--notls2", "--nolog", "--noreleasecheck", "--tmpdir", str(work)]
    if compress:  # the thin pipe is the source's (--compress2 resets the connection on a
        args += ["--compress1"]  # 1 MB APPEND to Dovecot with imapsync 2.229, link or not)
    return lambda: timed(args)[0]


def delta(source: Dovecot, run: Run, seed: int) -> float:
    """`run` once 10 new messages arrived in the source's INBOX, which loses them again
    afterwards: every tool's initial copy then has the same mailbox to copy."""
    rng = random.Random(seed)
    uids = put(source, [SeedMessage(make_message(rng, 900_000 + seed * DELTA + n, size=3000))
                        for n in range(DELTA)])
    seconds = run()
    conn = imap_login(source.host, source.port, "alice", PASSWORD)
    try:
        conn.select("INBOX")
        conn.uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", "(\\Deleted)")
        conn.uid("EXPUNGE", ",".join(map(str, uids)))
    finally:
        conn.logout()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--tools", default="mailferry,mbsync,dsync,imapsync")
    parser.add_argument("--rounds", type=int, default=2,
                        help="run each tool this often, the order reversed every other round")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    compile_bytecode()
    cases = options.cases.split(",")
    tools = options.tools.split(",")
    imapsync_tool = find_imapsync() if "imapsync" in tools else None
    if "imapsync" in tools and imapsync_tool is None:
        print("imapsync not found ($IMAPSYNC, PATH, /work/peers/imapsync): column skipped")
        tools.remove("imapsync")
    runs = [(case, tool, variant) for round_number in range(options.rounds) for case in cases
            for tool in (tools if round_number % 2 == 0 else tools[::-1])
            for variant in (("auto", "never", "always") if case == "thin-pipe" and tool in
                            ("mailferry",) else (None,))]
    users = [DovecotUser(f"u{n}", PASSWORD) for n in range(len(runs))]
    work = Path(tempfile.mkdtemp(prefix="mf-wan-"))
    messages = generate(options.messages)
    total_mb = sum(len(m.raw) for m in messages) / 1e6
    raw = b"".join(m.raw for m in messages)
    print(f"mailbox: {len(messages)} messages, {total_mb:.0f} MB, DEFLATE ratio "
          f"{len(raw) / len(zlib.compress(raw, 6)):.2f}")
    del raw
    rows: list[Row] = []
    with Dovecot(users=[DovecotUser("alice", PASSWORD)], compress=True) as source, \
            Dovecot(users=users, compress=True) as target:
        seed_fast(source, "alice", messages)
        expected = snapshot(source.host, source.port, "alice", PASSWORD)
        for n, (case, tool, variant) in enumerate(runs):
            user = f"u{n}"
            src_delay, dst_delay, rate = CASES[case]
            with ExitStack() as links:
                src = links.enter_context(Link(source.host, source.port, delay=src_delay,
                                               rate=rate)).port
                dst = links.enter_context(Link(target.host, target.port, delay=dst_delay)).port
                if tool == "mailferry":
                    run = mailferry(src, dst, user, work, variant or "auto")
                    name = "mailferry" + (f" (compress {variant})" if variant else "")
                elif tool == "mbsync":
                    run = mbsync(src, dst, user, work)
                    name = "mbsync"
                elif tool == "dsync":
                    run = dsync(target, src, user)
                    name = "dsync (imapc)"
                else:
                    assert imapsync_tool is not None
                    compress = case == "thin-pipe"
                    run = imapsync(imapsync_tool, src, dst, user, work, compress)
                    name = "imapsync" + (" (compress)" if compress else "")
                first, again = run(), run()
                got = snapshot(target.host, target.port, user, PASSWORD)
                late = delta(source, run, seed=n) if case != "thin-pipe" else None
            rows.append(Row(case, name, first, again, compare(expected, got), late))
            print(f"  {case} {name}: {first:.1f}s, re-run {again:.2f}s"
                  + (f", delta {late:.2f}s" if late is not None else ""), flush=True)
    for case in cases:
        print(f"\n{case} (best of {options.rounds})\n{'tool':<28}{'initial s':>10}"
              f"{'re-run s':>10}{'delta s':>9}  copy")
        mine = _best([r for r in rows if r.case == case])
        for row in mine:
            print(f"{row.tool:<28}{row.seconds:>10.2f}{row.rerun or 0:>10.2f}"
                  f"{row.delta or 0:>9.2f}  {row.exact}")
        ours = next((r for r in mine if r.tool in ("mailferry", "mailferry (compress auto)")),
                    None)  # the default, not the best of the variants
        for row in mine if ours is not None else []:
            if not row.tool.startswith("mailferry"):
                print(f"mailferry takes {ours.seconds / row.seconds:.2f}x the time of {row.tool}"
                      f" (re-run {_ratio(ours.rerun, row.rerun)}, "
                      f"delta {_ratio(ours.delta, row.delta)})")
    if options.json:
        options.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2))
    return 0


def _ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}x" if ours and theirs else "-"


def _best(rows: list[Row]) -> list[Row]:
    """Per tool, in the order first run: its fastest initial copy, re-run and delta, and a
    copy that was not exact in any round said so."""
    best: dict[str, Row] = {}

    def least(*values: float | None) -> float | None:
        return min((v for v in values if v is not None), default=None)

    for row in rows:
        kept = best.setdefault(row.tool, row)
        best[row.tool] = Row(row.case, row.tool, min(kept.seconds, row.seconds),
                             least(kept.rerun, row.rerun),
                             kept.exact if kept.exact != "exact" else row.exact,
                             least(kept.delta, row.delta))
    return list(best.values())


if __name__ == "__main__":
    sys.exit(main())
