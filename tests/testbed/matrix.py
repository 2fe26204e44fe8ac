"""The interop matrix: `mailferry copy` (and imapsync beside it) between ordered pairs of the
test bed's IMAP servers, checked by testbed.checker (stdlib imaplib + hashlib).

Servers: Dovecot in two layouts ("dovecot-slash": '/', no prefix; "dovecot-dot": "INBOX."
and '.'), pymap, and, when their chroots are built (scripts/testbed-chroot.sh), GNU Mailutils
imap4d, Cyrus and Courier-IMAP. Per source: a fresh server seeded with the matrix mailbox
(testbed.matrix_mailbox), read back: that read-back, not what seeding tried, is what
targets are compared with. Per target and tool, a fresh target:
  1. copy, read the target back, classify every difference (missing, extra, flags, keywords,
     date, body by class);
  2. mailferry: re-run with the same state, then with a fresh state file; imapsync: re-run;
     count the messages each re-run added (duplicates);
  3. read the source back: a copy must never change it (imap4d rewrites a message's Status:
     field once a client SELECTs its folder read-write: imapsync does, mailferry EXAMINEs).
     The next pair is checked against the source as it is then.
bench/interop_matrix.py prints the whole matrix; tests/interop/test_matrix.py asserts it.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from testbed import Dovecot
from testbed.checker import (
    AccountSnapshot,
    account_snapshot,
    compare,
    duplicates,
    quote,
)
from testbed.chroot import ChrootMissing, chroot_path
from testbed.courier import Courier
from testbed.cyrus import Cyrus
from testbed.imap4d import Imap4d
from testbed.matrix_mailbox import MatrixMessage, seed_mailbox, server_layout
from testbed.pymap import Pymap

USER = "alice"
PROBE_FOLDER = "mf-probe"
RUN_TIMEOUT = 600  # seconds one copy may take before it counts as hung


class Server(Protocol):
    host: str
    port: int

    def password(self, user: str = ...) -> str: ...
    def cleanup(self) -> None: ...


FACTORIES: dict[str, Callable[[], Any]] = {
    "dovecot-slash": lambda: Dovecot(layout="slash"),
    "dovecot-dot": lambda: Dovecot(layout="dot"),
    "pymap": Pymap,
    "imap4d": Imap4d,
    "cyrus": Cyrus,
    "courier": Courier,
}
CHROOTED = {"imap4d", "cyrus", "courier"}
REGULAR = ("dovecot-slash", "dovecot-dot", "pymap")


def available_servers() -> list[str]:
    names = list(REGULAR)
    for name in sorted(CHROOTED):
        try:
            chroot_path(name)
            names.append(name)
        except ChrootMissing:
            pass
    return names


@contextmanager
def running(name: str) -> Iterator[Any]:
    server = FACTORIES[name]()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def snapshot_of(server: Server) -> AccountSnapshot:
    return account_snapshot(server.host, server.port, USER, server.password(USER))


def find_imapsync() -> str | None:
    for candidate in (os.environ.get("IMAPSYNC"), shutil.which("imapsync"),
                      "/work/peers/imapsync"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


# -- one run of a tool ---------------------------------------------------------------------

@dataclass
class ToolRun:
    exit_status: int | None  # None: hung past RUN_TIMEOUT
    seconds: float
    copied: int | None = None
    reported: dict[str, int] = field(default_factory=dict)  # failure kind -> count
    keywords_dropped: int = 0
    note: str = ""


def _password_file(work: Path, side: str, server: Server) -> Path:
    path = work / f"{side}.pw"
    path.write_text(server.password(USER) + "\n")
    path.chmod(0o600)
    return path


def _run_tool(command: list[str], work: Path,
              ) -> tuple[ToolRun, subprocess.CompletedProcess[str] | None]:
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                              cwd=work)
    except subprocess.TimeoutExpired:
        return ToolRun(None, time.monotonic() - started, note="hung"), None
    return ToolRun(done.returncode, time.monotonic() - started), done


def run_mailferry(source: Server, target: Server, state: Path, work: Path) -> ToolRun:
    command = [sys.executable, "-m", "mailferry", "copy", "--json", "--state", str(state),
               "--source-password-file", str(_password_file(work, "source", source)),
               "--target-password-file", str(_password_file(work, "target", target)),
               f"imap://{USER}@{source.host}:{source.port}",
               f"imap://{USER}@{target.host}:{target.port}"]
    run, done = _run_tool(command, work)
    if done is None:
        return run
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        run.note = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return run
    run.copied = summary["totals"]["copied"]
    run.keywords_dropped = sum(summary["totals"]["keywords_dropped"].values())
    run.reported = dict(Counter(f["kind"] for f in summary["failures"]))
    failed_folders = [f for f in summary["folders"] if f["status"] == "failed"]
    if failed_folders:
        run.reported["folder_failed"] = len(failed_folders)
        # a folder the target cannot hold (refused CREATE, \Noselect only), in its words
        run.reported["folder_unusable"] = sum(1 for f in failed_folders if f["error"]
                                              and f["failed"] and not f["copied"])
        run.reported["in_failed_folders"] = sum(f["failed"] for f in failed_folders)
        run.note = "; ".join(f"{f['source']}: {f['error']}" for f in failed_folders)[:300]
    return run


def run_imapsync(imapsync: str, source: Server, target: Server, work: Path) -> ToolRun:
    command = [imapsync, "--host1", source.host, "--port1", str(source.port), "--user1", USER,
               "--passfile1", str(_password_file(work, "source", source)),
               "--host2", target.host, "--port2", str(target.port), "--user2", USER,
               "--passfile2", str(_password_file(work, "target", target)),
               "--nossl1", "--nossl2", "--notls1", "--notls2", "--nolog", "--noreleasecheck"]
    run, done = _run_tool(command, work)
    if done is None:
        return run
    for line in done.stdout.splitlines():
        if line.startswith("Messages transferred"):
            run.copied = int(line.split(":")[1].split()[0])
        elif line.startswith("Messages skipped"):
            run.reported["skipped"] = int(line.split(":")[1].split()[0])
        elif line.startswith("Detected") and "errors" in line:
            run.reported["errors"] = int(line.split()[1])
    return run


# -- one pair ------------------------------------------------------------------------------

@dataclass
class PairResult:
    source: str
    target: str
    tool: str
    first: ToolRun | None = None
    differences: dict[str, int] = field(default_factory=dict)  # checker's counts
    matched: int = 0
    source_messages: int = 0
    dup_same_state: int | None = None
    dup_fresh_state: int | None = None
    avoidable_rejections: int | None = None  # missing, yet the target takes them when offered
    source_changed: int = 0  # source messages the tool's runs changed (read back after them)
    examples: list[str] = field(default_factory=list)  # a few differences, described
    note: str = ""

    @property
    def unreported(self) -> int:
        """Messages missing, changed or re-dated beyond what the tool reported (one report
        per message and kind of difference)."""
        if self.first is None:
            return 0
        lost = sum(self.differences.get(kind, 0) for kind in ("missing", "body", "date"))
        reported = sum(n for kind, n in self.first.reported.items()
                       if kind not in ("folder_failed", "folder_unusable"))
        return max(0, lost - reported)

    @property
    def passes(self) -> bool:
        """Every message exact or reported with its class, no duplicates after re-runs, the
        source as it was (a copy reads it, never changes it: imap4d rewrites a message's
        Status: field once a client SELECTs its folder read-write). A
        folder the target cannot hold (imap4d: mail or child folders, never both) may be
        missing when the tool reported it as failed with the server's words, its messages
        counted."""
        d = self.differences
        keyword_diffs = d.get("keywords", 0)
        return (self.first is not None and self.first.exit_status in (0, 1)
                and self.unreported == 0 and d.get("extra", 0) == 0 and d.get("flags", 0) == 0
                and keyword_diffs <= self.first.keywords_dropped
                and d.get("folder_missing", 0) <= self.first.reported.get("folder_unusable", 0)
                and not (self.first.exit_status == 0 and d.get("missing", 0))
                and not self.dup_same_state and not self.dup_fresh_state
                and not self.avoidable_rejections and not self.source_changed)


def _check(result: PairResult, source: AccountSnapshot, target: Server,
           ) -> tuple[AccountSnapshot, list[bytes]]:
    """The target read back, and the bodies of the source messages it lacks."""
    after = snapshot_of(target)
    comparison = compare(source, after)
    result.differences = dict(comparison.counts())
    result.matched = comparison.matched
    result.source_messages = source.count()
    result.examples = [d.describe() for d in comparison.differences[:8]]
    # a folder the target lacks is judged as a folder (passes: reported unusable or not)
    absent = {d.folder for d in comparison.differences if d.kind == "folder_missing"}
    missing = [source.bodies[d.source.sha256] for d in comparison.differences
               if d.kind == "missing" and d.source is not None and d.folder not in absent]
    return after, missing


def probe_rejections(target: Server, bodies: list[bytes], limit: int = 40) -> int:
    """How many of these messages the target takes when offered directly, as they are or with
    CRLF line endings (issue 20 point 7): a rejection the copy could have avoided. Appended
    with imaplib into a folder of its own, after every other check."""
    conn = imaplib.IMAP4(target.host, target.port)
    accepted = 0
    try:
        conn.login(USER, target.password(USER))
        wire = server_layout(conn)[1] + PROBE_FOLDER
        typ, words = conn.create(quote(wire))
        if typ != "OK":
            raise RuntimeError(f"probe: CREATE {wire} refused: {words!r}")
        for body in bodies[:limit]:
            for attempt in (body, re.sub(rb"\r?\n|\r", b"\r\n", body)):
                try:
                    typ, _ = conn.append(quote(wire), None, None, attempt)
                except imaplib.IMAP4.abort:  # pymap drops the connection on some
                    conn.shutdown()  # (left open, its socket failed the test at exit)
                    conn = imaplib.IMAP4(target.host, target.port)
                    conn.login(USER, target.password(USER))
                    typ = "NO"
                except imaplib.IMAP4.error:
                    typ = "BAD"
                if typ == "OK":
                    accepted += 1
                    break
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()
    return accepted


def mailferry_pair(source_name: str, source: Server, source_snap: AccountSnapshot,
                   target_name: str) -> PairResult:
    result = PairResult(source_name, target_name, "mailferry")
    with running(target_name) as target, tempfile.TemporaryDirectory(prefix="mf-matrix-") as tmp:
        work = Path(tmp)
        result.first = run_mailferry(source, target, work / "state.db", work)
        first, missing = _check(result, source_snap, target)
        run_mailferry(source, target, work / "state.db", work)
        second = snapshot_of(target)
        result.dup_same_state = duplicates(first, second)
        run_mailferry(source, target, work / "fresh-state.db", work)
        result.dup_fresh_state = duplicates(second, snapshot_of(target))
        result.avoidable_rejections = probe_rejections(target, missing) if missing else 0
    result.source_changed = source_changed(source, source_snap)
    return result


def source_changed(source: Server, before: AccountSnapshot) -> int:
    """How many source messages differ from `before` now (a tool that SELECTs a folder of
    imap4d read-write makes it rewrite Status: fields: imapsync does)."""
    return len([d for d in compare(before, snapshot_of(source)).differences
                if d.kind != "extra"])


def imapsync_pair(imapsync: str, source_name: str, source: Server,
                  source_snap: AccountSnapshot, target_name: str) -> PairResult:
    result = PairResult(source_name, target_name, "imapsync")
    with running(target_name) as target, tempfile.TemporaryDirectory(prefix="mf-matrix-") as tmp:
        work = Path(tmp)
        result.first = run_imapsync(imapsync, source, target, work)
        first, _missing = _check(result, source_snap, target)
        run_imapsync(imapsync, source, target, work)
        result.dup_same_state = duplicates(first, snapshot_of(target))
    result.source_changed = source_changed(source, source_snap)
    return result


@dataclass
class SeededSource:
    name: str
    server: Any
    snapshot: AccountSnapshot
    refused: list[str]


def _settled(source: Server, before: AccountSnapshot, result: PairResult) -> AccountSnapshot:
    """The source snapshot the next run is checked against: read again when `result`'s
    runs changed it."""
    return snapshot_of(source) if result.source_changed else before


@contextmanager
def seeded(name: str, mailbox: list[MatrixMessage]) -> Iterator[SeededSource]:
    with running(name) as server:
        report = seed_mailbox(server.host, server.port, USER, server.password(USER), mailbox,
                              server=name)
        yield SeededSource(name, server, snapshot_of(server), report.refused)


def run_matrix(servers: list[str], mailbox: list[MatrixMessage], *, tools: tuple[str, ...] =
               ("mailferry", "imapsync"), log: Callable[[str], None] = print,
               sources: list[str] | None = None,
               ) -> tuple[list[PairResult], dict[str, list[str]]]:
    imapsync = find_imapsync() if "imapsync" in tools else None
    results: list[PairResult] = []
    refusals: dict[str, list[str]] = {}
    for source_name in sources or servers:
        with seeded(source_name, mailbox) as source:
            refusals[source_name] = source.refused
            log(f"{source_name}: seeded, holds {source.snapshot.count()} messages "
                f"({len(source.refused)} refusals at seeding)")
            # each run is checked against the source as it is right before it: a run that
            # changed it (imapsync, on imap4d) is charged with that, not the runs after it
            before = source.snapshot
            for target_name in servers:
                if target_name == source_name:
                    continue
                if "mailferry" in tools:
                    results.append(mailferry_pair(source_name, source.server, before,
                                                  target_name))
                    log(format_row(results[-1]))
                    before = _settled(source.server, before, results[-1])
                if imapsync is not None:
                    results.append(imapsync_pair(imapsync, source_name, source.server,
                                                 before, target_name))
                    log(format_row(results[-1]))
                    before = _settled(source.server, before, results[-1])
    return results, refusals


# -- printing ------------------------------------------------------------------------------

def format_row(r: PairResult) -> str:
    first = r.first
    exit_status = "hung" if first is None or first.exit_status is None else first.exit_status
    changes = ", ".join(f"{k} {v}" for k, v in sorted(r.differences.items())) or "exact"
    reported = ", ".join(f"{k} {v}" for k, v in sorted(first.reported.items())) if first else ""
    dropped = first.keywords_dropped if first else 0
    avoid = r.avoidable_rejections
    dups = (f"{r.dup_same_state}" if r.tool == "imapsync"
            else f"{r.dup_same_state}/{r.dup_fresh_state}")
    return (f"{r.source:>13} -> {r.target:<13} {r.tool:<9} exit {exit_status!s:<4} "
            f"copied {first.copied if first else '-'!s:>4}/{r.source_messages:<4} "
            f"dups {dups:<6} {'PASS' if r.passes else 'FAIL'}  checker: {changes}"
            f"{'  | avoidable rejections ' + str(avoid) if avoid else ''}"
            f"{'  | SOURCE changed ' + str(r.source_changed) if r.source_changed else ''}"
            f"{'  | reported: ' + reported if reported else ''}"
            f"{'  | kw dropped ' + str(dropped) if dropped else ''}"
            f"{'  | ' + first.note if first and first.note else ''}")


