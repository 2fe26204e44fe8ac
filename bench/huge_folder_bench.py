"""One huge folder (issue 16 §1): an INBOX of --messages small messages (1.5-6 KB, distinct
Message-IDs, ten years of dates, some flags and keywords), seeded straight into the source
Dovecot's Maildir (APPENDing 100,000 messages would take longer than the copies). Then, per
tool: the initial copy, no-change re-runs, and re-runs after 10 new messages arrived (the
deltas; --rounds of each, the median shown: one of each varied by 0.3 s from run to run with
Dovecot's rescans), each timed, with the tool's peak RSS; mailferry against dsync (imapc) and
mbsync in the same run. Each copy is checked by count and by the multiset of (size, flags).
The floor: the least IMAP a re-run and a delta need (a bare client in this process, no tool,
no state, no check), into a target Maildir holding the same 100,000 messages: what the two
Dovecots cost whoever asks (a Maildir that changed is read again, all of it, on the next
look). Each no-change re-run starts SETTLE seconds after the copy before it was checked:
Dovecot reads a Maildir changed within the last second or so again whole at every look
(0.25 s at 100,000 messages), and a re-run that followed the copy at once measured how soon
the harness started it. The delta runs right after its new mail arrives, as before: that
catch-up is part of it, for every tool. Two kinds of delta rounds: back to back (each starts
within a second of the previous round's copy, so the target folder, changed that recently,
is read again whole at each opening: a tool that opens it twice pays twice), then settled
(each new mail arrives SETTLE seconds after the previous round's copy, as a migration's
re-runs, minutes apart, find it). Only 127.0.0.1 is used.
Run: `.venv/bin/python bench/huge_folder_bench.py --help`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import imaplib
import json
import os
import pwd
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from copy_bench import (  # noqa: E402
    PASSWORD,
    compile_bytecode,
    run_dsync,
    run_mbsync,
    timed,
)

from testbed import Dovecot, DovecotUser, imap_login  # noqa: E402
from testbed.dovecot import MAIL_USER  # noqa: E402
from testbed.messages import make_message  # noqa: E402

KEYWORDS = ["$Label1", "Work"]
FLAG_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}


def seed_maildir(server: Dovecot, count: int, seed: int = 100_000, user: str = "alice") -> None:
    """Files in Maildir/cur, as Dovecot would have stored them: the date is the mtime, the
    flags and keywords (letters a, b per dovecot-keywords) in the name."""
    rng = random.Random(seed)
    maildir = server.maildir(user) / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "dovecot-keywords").write_text(
        "".join(f"{n} {k}\n" for n, k in enumerate(KEYWORDS)))
    start = dt.datetime(2015, 1, 1, tzinfo=dt.UTC).timestamp()
    for n in range(count):
        date = dt.datetime.fromtimestamp(start + rng.randrange(10 * 365 * 86400), dt.UTC)
        raw = make_message(rng, n, size=rng.randint(1500, 6000), date=date)
        letters = sorted({FLAG_LETTERS[f] for f in FLAG_LETTERS if rng.random() < (
            0.7 if f == "\\Seen" else 0.05)} | ({"a"} if rng.random() < 0.05 else set())
                         | ({"b"} if rng.random() < 0.03 else set()))
        path = maildir / "cur" / f"{int(start) + n}.M{n}P1.bench,S={len(raw)}:2,{''.join(letters)}"
        path.write_bytes(raw)
        os.utime(path, (date.timestamp(), date.timestamp()))
    mail = pwd.getpwnam(MAIL_USER)
    for root, dirs, files in os.walk(server.maildir(user)):
        for name in [root, *(os.path.join(root, x) for x in dirs + files)]:
            os.chown(name, mail.pw_uid, mail.pw_gid)


def summary(server: Dovecot, user: str) -> tuple[int, Counter[tuple[int, str]]]:
    """INBOX's count and multiset of (RFC822.SIZE, flags)."""
    conn = imap_login(server.host, server.port, user, PASSWORD)
    try:
        _, data = conn.select("INBOX", readonly=True)
        count = int(data[0] or 0)
        found: Counter[tuple[int, str]] = Counter()
        if count:
            _, lines = conn.uid("FETCH", "1:*", "(RFC822.SIZE FLAGS)")
            for line in lines:
                text = line.decode() if isinstance(line, bytes) else ""
                size = int(text.split("RFC822.SIZE ")[1].split()[0].rstrip(")"))
                flags = text.split("FLAGS (")[1].split(")")[0]
                found[(size, " ".join(sorted(f for f in flags.split() if f != "\\Recent")))] += 1
        return count, found
    finally:
        conn.logout()


def add_delta(server: Dovecot, count: int, seed: int) -> None:
    rng = random.Random(seed)
    conn = imap_login(server.host, server.port, "alice", PASSWORD)
    for n in range(count):
        raw = make_message(rng, 10_000_000 + seed * 100 + n, size=3000)
        conn.append("INBOX", None, None, raw)
    conn.logout()


def floor_rerun(source: Dovecot, target: Dovecot, user: str) -> float:
    """The least a no-change re-run asks: both logins at once, then each INBOX's STATUS."""
    started = time.monotonic()

    def status(server: Dovecot, login: str) -> None:
        conn = imap_login(server.host, server.port, login, PASSWORD)
        conn.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)")
        conn.logout()

    other = threading.Thread(target=status, args=(target, user))
    other.start()
    status(source, "alice")
    other.join()
    return time.monotonic() - started


def floor_delta(source: Dovecot, target: Dovecot, user: str, since: int) -> float:
    """The least a delta asks: the source's EXAMINE, UID SEARCH from `since` and one UID FETCH
    of bodies, flags and dates, while the target logs in and SELECTs; then one MULTIAPPEND
    (LITERAL+) of them all. No read-back, no state, nothing checked."""
    started = time.monotonic()
    opened: dict[str, imaplib.IMAP4] = {}

    def open_target() -> None:
        conn = imap_login(target.host, target.port, user, PASSWORD)
        conn.select("INBOX")
        opened["target"] = conn

    other = threading.Thread(target=open_target)
    other.start()
    conn = imap_login(source.host, source.port, "alice", PASSWORD)
    conn.select("INBOX", readonly=True)
    _, found = conn.uid("SEARCH", f"UID {since}:*")
    uids = [uid for uid in found[0].split() if int(uid) >= since]
    parts = []
    if uids:
        _, data = conn.uid("FETCH", b",".join(uids).decode(), "(FLAGS INTERNALDATE BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple):
                head = item[0].decode()
                flags = head.split("FLAGS (")[1].split(")")[0].replace("\\Recent", "").strip()
                date = head.split('INTERNALDATE "')[1].split('"')[0]
                parts.append(f' ({flags}) "{date}" {{{len(item[1])}+}}\r\n'.encode() + item[1])
    conn.logout()
    other.join()
    append = opened["target"]
    if parts:
        append.send(b"F1 APPEND INBOX" + b"".join(parts) + b"\r\n")
        while not (line := append.readline()).startswith(b"F1 "):
            pass
        assert line.startswith(b"F1 OK"), line
    append.logout()
    return time.monotonic() - started


SETTLE = 2.0  # s between a copy and the next look (re-runs, settled deltas): the docstring
ROUNDS_MAX = 10  # (the delta messages' numbers are told apart by tool and round)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--tools", default="mailferry,dsync,mbsync")
    parser.add_argument("--rounds", type=int, default=3,
                        choices=range(1, ROUNDS_MAX // 2 + 1),
                        help="no-change re-runs and deltas of each kind per tool (the median "
                             "is shown)")
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip the floor (the least IMAP a re-run and a delta ask)")
    options = parser.parse_args()
    compile_bytecode()
    tools = options.tools.split(",")
    work = Path(tempfile.mkdtemp(prefix="mf-huge-"))
    rows = []
    with Dovecot(users=[DovecotUser("alice", PASSWORD)]) as source, \
            Dovecot(users=[DovecotUser(t[:2], PASSWORD) for t in [*tools, "floor"]]) as target:
        seed_maildir(source, options.messages)
        if options.floor:  # the same messages, as if copied: the floor appends its delta there
            seed_maildir(target, options.messages, user="fl")
        expected_count, expected = summary(source, "alice")
        print(f"INBOX: {expected_count} messages seeded", flush=True)
        for round_number, tool in enumerate(tools):
            user = tool[:2]
            if tool == "mailferry":
                def rerun(user: str = user) -> tuple[float, float, str]:
                    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": PASSWORD,
                           "MAILFERRY_TARGET_PASSWORD": PASSWORD}
                    return timed([str(REPO / ".venv/bin/mailferry"), "copy",
                                  f"imap://alice@127.0.0.1:{source.port}",
                                  f"imap://{user}@127.0.0.1:{target.port}",
                                  "--state", str(work / f"{user}.db"), "--json"], env)
                first = rerun()
                report = json.loads(first[2][first[2].index("{"):])
                assert report["totals"]["failed"] == 0, report["failures"][:3]
            elif tool == "dsync":
                first = run_dsync(source, target, user)
                def rerun(user: str = user) -> tuple[float, float, str]:
                    return run_dsync(source, target, user)
            else:
                first = run_mbsync(source, target, user, work)
                def rerun(user: str = user) -> tuple[float, float, str]:
                    return run_mbsync_again(source, target, user, work)
            count, got = summary(target, user)
            exact = ("exact" if (count, got) == (expected_count, expected)
                     else f"differs ({count} messages)")
            time.sleep(SETTLE)
            again = [rerun()[0] for _ in range(options.rounds)]
            delta = []
            for n in range(options.rounds):
                add_delta(source, 10, round_number * ROUNDS_MAX + n)
                delta.append(rerun()[0])
            settled = []
            for n in range(options.rounds):
                time.sleep(SETTLE)
                add_delta(source, 10, round_number * ROUNDS_MAX + options.rounds + n)
                settled.append(rerun()[0])
            expected_count, expected = summary(source, "alice")
            rows.append((tool, first, again, delta, settled, exact))
            print(f"  {tool}: done", flush=True)
        floor = (run_floor(source, target, len(tools) * ROUNDS_MAX, options.rounds)
                 if options.floor else None)
    print(f"\n{'tool':<12}{'initial s':>10}{'msgs/s':>8}{'RSS MB':>8}{'re-run s':>10}"
          f"{'delta s':>9}{'settled s':>11}  copy   (re-runs and deltas: median of "
          f"{options.rounds})")
    for tool, first, again, delta, settled, exact in rows:
        print(f"{tool:<12}{first[0]:>10.1f}{options.messages / first[0]:>8.0f}{first[1]:>8.0f}"
              f"{median(again):>10.2f}{median(delta):>9.2f}{median(settled):>11.2f}  {exact}")
    ours = next((r for r in rows if r[0] == "mailferry"), None)
    if ours:
        for tool, first, again, delta, settled, _ in rows:
            if tool != "mailferry":
                print(f"vs {tool}: initial {first[0] / ours[1][0]:.2f}x as fast, re-run "
                      f"{median(again) / median(ours[2]):.2f}x, "
                      f"delta {median(delta) / median(ours[3]):.2f}x, "
                      f"settled delta {median(settled) / median(ours[4]):.2f}x")
    if floor is not None:
        again, delta, settled, exact = floor
        print(f"{'floor':<12}{'-':>10}{'':>8}{'':>8}{median(again):>10.2f}"
              f"{median(delta):>9.2f}{median(settled):>11.2f}  {exact}")
        if ours:
            print(f"mailferry over the floor: re-run {median(ours[2]) / median(again):.2f}x, "
                  f"delta {median(ours[3]) / median(delta):.2f}x, settled delta "
                  f"{median(ours[4]) / median(settled):.2f}x (the floor starts no process)")
    print("each round (s):")
    for tool, _, again, delta, settled, _ in [*rows,
                                              *([("floor", None, *floor)] if floor else [])]:
        print(f"  {tool:<10} re-run {' '.join(f'{t:.2f}' for t in again)}"
              f"   delta {' '.join(f'{t:.2f}' for t in delta)}"
              f"   settled {' '.join(f'{t:.2f}' for t in settled)}")
    return 0


def run_floor(source: Dovecot, target: Dovecot, seed: int, rounds: int,
              ) -> tuple[list[float], list[float], list[float], str]:
    """(no-change re-run s, delta s back to back, settled delta s, each round; whether the
    deltas arrived) of the bare client, into the target Maildir seeded like the source's,
    indexed by a first look as a copy would have."""
    count, _ = summary(target, "fl")
    time.sleep(SETTLE)
    again = [floor_rerun(source, target, "fl") for _ in range(rounds)]

    def one_delta(n: int) -> float:
        conn = imap_login(source.host, source.port, "alice", PASSWORD)
        _, data = conn.status("INBOX", "(UIDNEXT)")
        conn.logout()
        since = int(data[0].decode().split("UIDNEXT ")[1].split(")")[0])
        add_delta(source, 10, seed + n)
        return floor_delta(source, target, "fl", since)

    delta = [one_delta(n) for n in range(rounds)]
    settled = []
    for n in range(rounds):
        time.sleep(SETTLE)
        settled.append(one_delta(rounds + n))
    after, _ = summary(target, "fl")
    arrived = after - count
    return again, delta, settled, (f"{arrived} appended" if arrived != 20 * rounds
                                   else f"10 appended x {2 * rounds}")


def run_mbsync_again(source: Dovecot, target: Dovecot, user: str,
                     work: Path) -> tuple[float, float, str]:
    """mbsync again with the configuration and state of its first run."""
    return timed(["mbsync", "-q", "-c", str(work / f"mbsyncrc-{user}"), "copy"])


if __name__ == "__main__":
    sys.exit(main())
