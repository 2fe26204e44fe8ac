"""Dashboard and static report at 10,000 users.

Synthesises a project state through the store's own API (no IMAP: the state is what a
sync would have written): 10,000 users in 10 waves and 8 departments, 7,000 synced with
six folders each, 300 failed with the server's words, 200 copying with live progress,
the rest pending, and two hours of progress samples from two syncs. Then measures:

- the data layer (`read_overview`) and a page of users with filters (SQL), in process;
- `mailferry serve` as a real process: first render of the dashboard page, a filtered
  page, the first live event, over HTTP on 127.0.0.1;
- `report --html`: time and size of the one-file report;
- beside them, `status --json` (every user and folder, the way `status` answers "where
  are we"): the ratio says what the dashboard costs against it.

Run: .venv/bin/python bench/dashboard_bench.py [--users N] [--screenshot docs/dashboard.png]
(--screenshot: the README's picture, taken by Debian's chromium through Playwright)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mailferry.project import load, load_users
from mailferry.report import read_overview, roster_of
from mailferry.status import MailboxStatus
from mailferry.store import (
    MailboxProgress,
    PassOutcome,
    ProjectState,
    UserFilter,
    user_page,
)
from mailferry.store.progress import samples

MAILFERRY = [sys.executable, "-m", "mailferry"]
FOLDERS = ["INBOX", "Sent", "Drafts", "Projects", "Projects/2025", "Archive"]


def write_project(root: Path, count: int) -> Path:
    (root / "users.csv").write_text("source_user,target_user,department,wave\n" + "".join(
        f"user{n:05d},,dept{n % 8},wave{n % 10}\n" for n in range(count)))
    toml = root / "migration.toml"
    toml.write_text("""\
[migration]
name = "Bench Corp"
domains = ["bench.example"]
timezone = "Europe/Berlin"
cutover = 2031-03-14T18:00:00

[source]
imap = "imap://127.0.0.1:1143"
[target]
imap = "imap://127.0.0.1:2143"
[users]
file = "users.csv"
[sync]
state = "state.db"
""")
    return toml


def fill_state(root: Path, count: int) -> None:
    rng = random.Random(1)
    with ProjectState.open(root / "state.db") as state:
        now = time.time()
        # two hours of samples from two syncs, every 2 s
        with state.snapshot() as conn:
            conn.execute(samples.insert(), [
                dict(at=now - 7200 + 2 * n, runner=f"bench:{n % 2}",
                     messages=rng.randint(20, 80), bytes=rng.randint(200_000, 900_000))
                for n in range(3600)])
        for n in range(count):
            user = f"user{n:05d}"
            if n >= 7500:
                continue  # pending
            state.start(source_user=user, target_user=user, wave=f"wave{n % 10}",
                        department=f"dept{n % 8}", source=f"imap://{user}@127.0.0.1:1143",
                        target=f"imap://{user}@127.0.0.1:2143")
            planned = rng.randint(200, 4000)
            if n >= 7300:  # copying
                state.record_progress("bench:0", [MailboxProgress(
                    user, now - 60, planned, planned // 3, planned * 20_000)], 0, 0)
                continue
            folders = [{"source": f, "target": f, "status": "synced", "copied": planned // 6,
                        "present": 0, "failed": 0, "bytes": planned * 3_000, "error": None,
                        "note": ""} for f in FOLDERS]
            failures = []
            status = MailboxStatus.SYNCED
            if n >= 7000:
                status = MailboxStatus.FAILED
                failures = [{"folder": "INBOX", "uid": 17, "kind": "rejected",
                             "reason": "NO [LIMIT] Message too large (35 MB)",
                             "message_id": f"<{n}@bench>", "subject": "big", "size": 40_000_000}]
            state.record_progress("bench:1", [MailboxProgress(
                user, now - 3600, planned, planned, planned * 20_000)], 0, 0)
            state.finish(user, PassOutcome(status, planned, planned * 20_000, len(failures),
                                           30.0, None if status == MailboxStatus.SYNCED else
                                           "1 messages failed", folders, failures))


def screenshot(address: str, root: Path, path: Path) -> None:
    """The dashboard as a person sees it, a sync running (a fresh sample makes it live)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(root / "profile"), executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"],
            viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        with ProjectState.open(root / "state.db") as state:  # once the browser is up
            now = time.time()  # the last five minutes of two syncs, as if running now
            with state.snapshot() as conn:
                conn.execute(samples.insert(), [
                    dict(at=now - 300 + 2 * n, runner=f"bench:{n % 2}", messages=60,
                         bytes=1_200_000) for n in range(150)])
        page.goto(address)
        page.screenshot(path=str(path))
        context.close()
    print(f"screenshot: {path}")


def timed(function: object, repeat: int = 5) -> float:
    """Median seconds of `repeat` calls."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()  # type: ignore[operator]
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--screenshot", type=Path, default=None)
    arguments = parser.parse_args()
    count = arguments.users
    root = Path(tempfile.mkdtemp(prefix="mailferry-dashboard-bench-"))
    toml = write_project(root, count)
    started = time.perf_counter()
    fill_state(root, count)
    print(f"state for {count} users synthesised in {time.perf_counter() - started:.1f} s "
          f"({(root / 'state.db').stat().st_size / 1e6:.1f} MB) in {root}")

    settings = load(toml).sync
    users = load_users(settings.users_file)
    roster = roster_of(users)  # as the dashboard keeps it between ticks
    with ProjectState.open(settings.sync.state) as state:
        overview = timed(lambda: read_overview(settings, roster, state))
        pages = {}
        for name, flt in (("first page", UserFilter()), ("wave filter", UserFilter(wave="wave3")),
                          ("status filter", UserFilter(status="failed")),
                          ("search", UserFilter(search="user0999")),
                          ("page 150", UserFilter(offset=149 * 50))):
            def one(flt: UserFilter = flt) -> None:
                with state.snapshot() as conn:
                    user_page(conn, flt)
            pages[name] = timed(one)
    print(f"read_overview (in process): {overview * 1000:.1f} ms")
    for name, seconds in pages.items():
        print(f"users page, {name}: {seconds * 1000:.1f} ms")

    env = {k: v for k, v in os.environ.items() if k != "MAILFERRY_DASHBOARD_TOKEN"}
    server = subprocess.Popen([*MAILFERRY, "serve", str(toml), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=env)
    try:
        assert server.stdout is not None
        match = re.search(r"(http://\S+/)\?token=(\S+)", server.stdout.readline())
        assert match, "serve printed no address"
        with httpx.Client(base_url=match.group(1), timeout=60) as client:
            client.get("/", params={"token": match.group(2)})
            first = time.perf_counter()
            page = client.get("/")
            first_render = time.perf_counter() - first
            again = timed(lambda: client.get("/"))
            filtered = timed(lambda: client.get("/", params={"wave": "wave3",
                                                             "status": "failed"}))
            started = time.perf_counter()
            with client.stream("GET", "/events") as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        json.loads(line[6:])
                        break
            first_event = time.perf_counter() - started
        if arguments.screenshot is not None:
            screenshot(match.group(0).split()[0], root, arguments.screenshot)
    finally:
        server.terminate()
        server.wait(15)
    print(f"dashboard over HTTP: first render {first_render * 1000:.0f} ms "
          f"({len(page.content) / 1024:.0f} KiB), again {again * 1000:.0f} ms, "
          f"filtered {filtered * 1000:.0f} ms, first live event {first_event * 1000:.0f} ms")

    report_path = root / "report.html"
    started = time.perf_counter()
    done = subprocess.run([*MAILFERRY, "report", str(toml), "--html", str(report_path)],
                          capture_output=True, text=True)
    report_seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    started = time.perf_counter()
    status = subprocess.run([*MAILFERRY, "status", str(toml), "--json"], capture_output=True)
    status_seconds = time.perf_counter() - started
    assert status.returncode == 0
    size = report_path.stat().st_size
    print(f"report --html: {report_seconds:.2f} s (process), {size / 1e6:.1f} MB, one file")
    print(f"status --json (peer): {status_seconds:.2f} s (process), "
          f"{len(status.stdout) / 1e6:.1f} MB")
    print(f"ratios: dashboard first render / status --json = "
          f"{first_render / status_seconds:.2f}; report --html / status --json = "
          f"{report_seconds / status_seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
