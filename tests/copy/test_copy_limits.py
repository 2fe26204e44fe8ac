"""Memory and time are bounded whatever a server sends: a literal announced as 2 GB is
drained, never held (peak RSS of the real `mailferry copy` process stays under the bound
docs/copy-engine.md gives), reported as too large and never fetched again; a server that
trickles a byte now and then cannot keep a run alive (the per-command deadline)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot, imap_login
from testbed.copykit import MAILFERRY, account
from testbed.memory import peak_rss_mb
from testbed.scripted_imap import Command, ScriptedImap

HUGE = 2 << 30  # announced and sent: 2 GiB
CHUNK = b"\0" * (1 << 20)
# docs/copy-engine.md, "Memory": 100 MB + 3 x workers x max(batch bytes, largest message
# copied); here 4 workers, 2 MB batches and small messages
RSS_BOUND_MB = 100 + 3 * 4 * 2


def small(n: int) -> bytes:
    return b"Message-ID: <s%d@example.org>\r\nSubject: small %d\r\n\r\nbody\r\n" % (n, n)


def run_measured(args: list[str], env: dict[str, str], out: Path) -> tuple[int, str, float]:
    """Exit status, stdout and peak RSS (MB, VmHWM polled) of a `mailferry` process."""
    with open(out, "w") as stdout, subprocess.Popen(args, env=env, stdout=stdout,
                                                   stderr=subprocess.DEVNULL) as proc:
        peak = 0.0
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            peak = max(peak, peak_rss_mb(proc.pid))
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
    return code, out.read_text(), peak


def huge_source() -> tuple[ScriptedImap, list[int]]:
    """INBOX: four small messages; the body of UID 2 is answered with a 2 GiB literal.
    The list counts the times that literal was started."""
    server = ScriptedImap()
    for n in range(1, 5):
        server.folder("INBOX").add(small(n))
    streamed: list[int] = []

    def fetch(command: Command) -> None:
        for uid, answer in command.fetch_answers():
            if uid == 2 and b"BODY[] {" in answer:
                streamed.append(0)
                head = answer[:answer.index(b"BODY[] {")]
                if not command.send(head + b"BODY[] {%d}\r\n" % HUGE):
                    return
                for _ in range(HUGE // len(CHUNK)):
                    if not command.send(CHUNK):
                        return
                    streamed[-1] += len(CHUNK)
                command.send(b")\r\n")
            elif not command.send(answer):
                return
        command.ok()

    server.script("UID FETCH", fetch)
    return server, streamed


def test_a_2gb_literal_is_drained_not_held_and_reported_once(target: Dovecot,
                                                             tmp_path: Path) -> None:
    server, streamed = huge_source()
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": "alice-pw",
           "MAILFERRY_TARGET_PASSWORD": "alice-pw"}
    with server:
        args = [*MAILFERRY, "copy", server.url(), target.url(), "--state",
                str(tmp_path / "s.db"), "--json"]
        code, out, peak = run_measured(args, env, tmp_path / "out.json")
        assert code == 1, out
        report = json.loads(out)
        assert report["totals"]["copied"] == 3
        (failure,) = report["failures"]
        assert failure["kind"] == "too-large" and failure["uid"] == 2
        assert failure["message_id"] == "<s2@example.org>" and failure["size"] == HUGE
        assert streamed == [HUGE]  # drained once, not fetched again by a retry
        assert peak < RSS_BOUND_MB, f"peak RSS {peak:.0f} MB"

        # a re-run lists it again without fetching it again, and copies nothing twice
        code, out, _ = run_measured(args, env, tmp_path / "out.json")
        assert code == 1
        again = json.loads(out)
        assert [f["kind"] for f in again["failures"]] == ["too-large"]
        assert again["totals"]["copied"] == 0 and len(streamed) == 1
    conn = imap_login(target.host, target.port, "alice", "alice-pw")
    _, data = conn.select("INBOX", readonly=True)
    conn.logout()
    assert int(data[0] or 0) == 3


def _run_in_thread(work: Callable[[], CopySummary], timeout: float) -> CopySummary:
    result: list[CopySummary] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the copy was still running after {timeout:.0f}s"
    return result[0]


def test_a_trickling_server_cannot_keep_a_run_alive(target: Dovecot, tmp_path: Path) -> None:
    server = ScriptedImap()
    for n in range(1, 4):
        server.folder("INBOX").add(small(n))
        server.folder("Slow").add(small(10 + n))

    def fetch(command: Command) -> None:
        items = command.args[1]
        if command.folder.name != "Slow" or not isinstance(items, list) \
                or b"BODY.PEEK[]" not in items:
            command.default()
            return
        command.send(b"* 1 FETCH (UID 1 BODY[] {100}\r\n")
        for _ in range(600):  # a byte every half second, for five minutes at most
            if not command.send(b"x"):
                return
            time.sleep(0.5)

    server.script("UID FETCH", fetch)
    source = Account(parse_mailbox_url(server.url()), Credentials("alice", "alice-pw"), TlsPolicy())
    store = StateStore.open(tmp_path / "s.db")
    options = CopyOptions(command_timeout=2.0, retries=1, backoff=0.01)
    try:
        with server:
            summary = _run_in_thread(lambda: MailboxCopy(
                imap_source(source), account(target), store, options).run(), timeout=120)
    finally:
        store.close()
    folders = {f.source: f for f in summary.folders}
    assert folders["INBOX"].status == "synced" and folders["INBOX"].copied == 3
    assert folders["Slow"].status == "failed"
    assert "no complete answer within" in (folders["Slow"].error or ""), folders["Slow"]
