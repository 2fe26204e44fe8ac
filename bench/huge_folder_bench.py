"""One huge folder (issue 16 §1): an INBOX of --messages small messages (1.5-6 KB, distinct
Message-IDs, ten years of dates, some flags and keywords), seeded straight into the source
Dovecot's Maildir (APPENDing 100,000 messages would take longer than the copies). Then, per
tool: the initial copy, a no-change re-run, and a re-run after 10 new messages arrived
(the delta), each timed, with the tool's peak RSS; mailferry against dsync (imapc) and
mbsync in the same run. Each copy is checked by count and by the multiset of (size, flags).
Only 127.0.0.1 is used. Run: `.venv/bin/python bench/huge_folder_bench.py --help`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pwd
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from copy_bench import PASSWORD, run_dsync, run_mailferry, run_mbsync, timed  # noqa: E402

from testbed import Dovecot, DovecotUser, imap_login  # noqa: E402
from testbed.dovecot import MAIL_USER  # noqa: E402
from testbed.messages import make_message  # noqa: E402

KEYWORDS = ["$Label1", "Work"]
FLAG_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}


def seed_maildir(server: Dovecot, count: int, seed: int = 100_000) -> None:
    """Files in Maildir/cur, as Dovecot would have stored them: the date is the mtime, the
    flags and keywords (letters a, b per dovecot-keywords) in the name."""
    rng = random.Random(seed)
    maildir = server.maildir("alice") / "Maildir"
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
    for root, dirs, files in os.walk(server.maildir("alice")):
        for name in [root, *(os.path.join(root, x) for x in dirs + files)]:
            os.chown(name, mail.pw_uid, mail.pw_gid)


def summary(server: Dovecot, user: str) -> tuple[int, Counter[tuple[int, str]]]:
    """INBOX's count and multiset of (RFC822.SIZE, flags)."""
    conn = imap_login(server.host, server.port, user, PASSWORD)
    try:
        _typ, data = conn.select("INBOX", readonly=True)
        count = int(data[0] or 0)
        found: Counter[tuple[int, str]] = Counter()
        if count:
            _typ, lines = conn.uid("FETCH", "1:*", "(RFC822.SIZE FLAGS)")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--tools", default="mailferry,dsync,mbsync")
    options = parser.parse_args()
    tools = options.tools.split(",")
    work = Path(tempfile.mkdtemp(prefix="mf-huge-"))
    rows = []
    with Dovecot(users=[DovecotUser("alice", PASSWORD)]) as source, \
            Dovecot(users=[DovecotUser(t[:2], PASSWORD) for t in tools]) as target:
        seed_maildir(source, options.messages)
        expected_count, expected = summary(source, "alice")
        print(f"INBOX: {expected_count} messages seeded", flush=True)
        for round_number, tool in enumerate(tools):
            user = tool[:2]
            if tool == "mailferry":
                first, again = run_mailferry(source, target, user, work)
                def rerun(user: str = user) -> tuple[float, float, str]:
                    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": PASSWORD,
                           "MAILFERRY_TARGET_PASSWORD": PASSWORD}
                    return timed([str(REPO / ".venv/bin/mailferry"), "copy",
                                  f"imap://alice@127.0.0.1:{source.port}",
                                  f"imap://{user}@127.0.0.1:{target.port}",
                                  "--state", str(work / f"{user}.db"), "--json"], env)
            elif tool == "dsync":
                first = run_dsync(source, target, user)
                again = run_dsync(source, target, user)
                def rerun(user: str = user) -> tuple[float, float, str]:
                    return run_dsync(source, target, user)
            else:
                first = run_mbsync(source, target, user, work)
                again = run_mbsync_again(source, target, user, work)
                def rerun(user: str = user) -> tuple[float, float, str]:
                    return run_mbsync_again(source, target, user, work)
            count, got = summary(target, user)
            exact = ("exact" if (count, got) == (expected_count, expected)
                     else f"differs ({count} messages)")
            add_delta(source, 10, round_number)
            delta = rerun()
            expected_count, expected = summary(source, "alice")
            rows.append((tool, first, again, delta, exact))
            print(f"  {tool}: done", flush=True)
    print(f"\n{'tool':<12}{'initial s':>10}{'msgs/s':>8}{'RSS MB':>8}{'re-run s':>10}"
          f"{'delta s':>9}  copy")
    for tool, first, again, delta, exact in rows:
        print(f"{tool:<12}{first[0]:>10.1f}{options.messages / first[0]:>8.0f}{first[1]:>8.0f}"
              f"{again[0]:>10.2f}{delta[0]:>9.2f}  {exact}")
    ours = next((r for r in rows if r[0] == "mailferry"), None)
    if ours:
        for tool, first, again, delta, _ in rows:
            if tool != "mailferry":
                print(f"vs {tool}: initial {first[0] / ours[1][0]:.2f}x as fast, re-run "
                      f"{again[0] / ours[2][0]:.2f}x, delta {delta[0] / ours[3][0]:.2f}x")
    return 0


def run_mbsync_again(source: Dovecot, target: Dovecot, user: str,
                     work: Path) -> tuple[float, float, str]:
    """mbsync again with the configuration and state of its first run."""
    return timed(["mbsync", "-q", "-c", str(work / f"mbsyncrc-{user}"), "copy"])


if __name__ == "__main__":
    sys.exit(main())
