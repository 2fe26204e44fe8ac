"""Filters by age and size (--max-age, --min-age, --max-size; [filters] max_age ...): exactly
the messages outside them stay behind, by the source's INTERNALDATE and RFC822.SIZE, they
are counted as excluded, `verify` with the same options does not call them missing, and a
later run without the filter copies them (they were not skipped for good). Real Dovecot,
messages of known dates and exact sizes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from pathlib import Path

from testbed import Dovecot, SeedMessage, imap_login, read_folder, seed
from testbed.copykit import run_cli
from testbed.messages import make_message

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LIMIT = 20_000  # --max-size: at most this many bytes


def exact(n: int, size: int) -> bytes:
    """A message of exactly `size` bytes (RFC822.SIZE counts the CRLF form we append)."""
    raw = make_message(random.Random(n), n, size=800).replace(b"\r\n", b"\n").replace(
        b"\n", b"\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    filler = size - len(head) - 4 - len(body)
    assert filler > 2, size
    line = b"x" * 70 + b"\r\n"
    pad = (line * (filler // len(line) + 1))[:filler - 2] + b"\r\n"
    out = head + b"\r\n\r\n" + body + pad
    assert len(out) == size
    return out


# (days old, size in bytes, folder); the edges are a day or a byte away from the limits
CASES = [(1, 2_000, "INBOX"), (29, 4_000, "INBOX"), (31, 3_000, "INBOX"),
         (400, 2_500, "Work"), (2, LIMIT, "Work"), (3, LIMIT + 1, "Work"),
         (5, 90_000, "INBOX"), (60, 90_000, "Work")]


def seeded(server: Dovecot) -> dict[str, tuple[int, int]]:
    """sha256 of each message -> (age in days, size)."""
    messages = {n: exact(n, size) for n, (_, size, _) in enumerate(CASES)}
    conn = imap_login(server.host, server.port, "alice", server.password())
    seed(conn, [SeedMessage(messages[n], folder, internaldate=NOW - dt.timedelta(days=age))
                for n, (age, _, folder) in enumerate(CASES)])
    conn.logout()
    return {hashlib.sha256(messages[n]).hexdigest(): (age, size)
            for n, (age, size, _) in enumerate(CASES)}


def held(server: Dovecot) -> set[str]:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        return {m.sha256 for folder in ("INBOX", "Work") for m in read_folder(conn, folder)}
    finally:
        conn.logout()


def test_max_age_and_max_size_leave_exactly_the_others_behind(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    ages = seeded(source)
    conn = imap_login(target.host, target.port, "alice", target.password())
    conn.create("Work")
    conn.logout()
    urls = [source.url(), target.url()]
    state = ["--state", str(tmp_path / "s.db")]
    filters = ["--max-age", "30", "--max-size", "20000"]
    done = run_cli(["copy", *urls, *state, *filters, "--json"], source=source, target=target)
    assert done.returncode == 0, done.stderr
    want = {sha for sha, (age, size) in ages.items() if age <= 30 and size <= LIMIT}
    assert held(target) == want and len(want) == 3
    totals = json.loads(done.stdout)["totals"]
    assert totals["excluded_by_age_or_size"] == len(CASES) - len(want)
    assert totals["copied"] == len(want)

    same = run_cli(["verify", *urls, *filters, "--json"], source=source, target=target)
    assert same.returncode == 0, same.stdout
    assert json.loads(same.stdout)["totals"]["excluded_by_age_or_size"] == 5
    plain = run_cli(["verify", *urls, "--json"], source=source, target=target)
    assert plain.returncode == 1  # without the filter they are missing, as they should be
    assert sum(d["kind"] == "missing" for d in json.loads(plain.stdout)["differences"]) == 5

    # a later run without the filter copies what was left behind, nothing twice
    rest = run_cli(["copy", *urls, *state, "--json"], source=source, target=target)
    assert rest.returncode == 0, rest.stderr
    assert json.loads(rest.stdout)["totals"]["copied"] == 5
    assert held(target) == set(ages)


def test_min_age_keeps_only_older_mail(source: Dovecot, target: Dovecot, tmp_path: Path,
                                       ) -> None:
    ages = seeded(source)
    done = run_cli(["copy", source.url(), target.url(), "--state", str(tmp_path / "s.db"),
                    "--min-age", "30", "--json"], source=source, target=target)
    assert done.returncode == 0, done.stderr
    assert held(target) == {sha for sha, (age, _) in ages.items() if age >= 30}
    bad = run_cli(["copy", source.url(), target.url(), "--max-size", "lots"],
                  source=source, target=target)
    assert bad.returncode == 2 and "--max-size" in bad.stderr
