"""`mailferry deliverability` as a process: the three test messages from an outside sender
(submitted to the real relay, the MX of the pilot) reach the pilot user on both Dovecot
systems; the old system sits behind a spam filter (a real SMTP server that adds its verdict
headers and files HTML with a link into Junk), the new one does not. The side-by-side table,
the JSON and the report show exactly that, read back from the servers' mailboxes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from testbed import Dovecot, imap_login
from testbed.monitorkit import CUTOVER, World, inbox_subjects
from testbed.net import free_port

NOW = (CUTOVER - dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%S")  # during the pilot
VERDICT = b"X-Spam-Status: Yes, score=6.3 tests=HTML_LINK\r\n"


class SpamFilter:
    """The old provider's inbound filter: stamps Authentication-Results and a spam verdict,
    files a message with an HTML link into Junk, the rest into INBOX (IMAP APPEND)."""

    def __init__(self, old: Dovecot) -> None:
        self.old = old

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        data: bytes = envelope.original_content  # type: ignore[attr-defined]
        spam = b"<a href=" in data
        stamp = (b"Authentication-Results: mx1.oldmail.example; spf=none "
                 b"smtp.mailfrom=partner.example\r\n"
                 + (VERDICT if spam else b"X-Spam-Status: No, score=0.4\r\n"))
        conn = imap_login(self.old.host, self.old.port, "alice", self.old.password("alice"))
        try:
            conn.append("Junk" if spam else "INBOX", "", None, stamp + data)
        finally:
            conn.logout()
        return "250 filed"


@pytest.fixture
def spam_filter(systems: tuple[Dovecot, Dovecot]) -> Iterator[int]:
    port = free_port()
    controller = Controller(SpamFilter(systems[0]), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def _world(world: Callable[..., World], filter_port: int) -> World:
    relay = free_port()  # the outside sender submits to the relay, the pilot's MX
    return world(old_upstream=f"smtp://127.0.0.1:{filter_port}", mx_port=relay,
                 relay_port=relay, extra=f"""
[deliverability]
sender_smtp = "smtp://127.0.0.1:{relay}"
sender_address = "partner@partner.example"
pilot_user = "alice"
old_address = "alice@old.bank.example"
new_address = "alice@new.bank.example"
wait = 60
""")


def mailferry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "300"})


def test_the_same_messages_side_by_side_on_both_systems(
        world: Callable[..., World], systems: tuple[Dovecot, Dovecot], spam_filter: int,
        tmp_path: Path) -> None:
    old, new = systems
    w = _world(world, spam_filter)
    done = mailferry("deliverability", str(w.toml), "--now", NOW)
    assert done.returncode == 0, done.stderr
    # the side-by-side table: one row per message, old and new in columns
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines()
            if line.count("│") > 4 and line.split("│")[1].strip() in (
                "plain", "html", "attachment")}
    assert set(rows) == {"plain", "html", "attachment"}
    assert "Junk (junk)" in rows["html"] and "Yes, score=6.3" in rows["html"]
    assert "Junk" not in rows["plain"] and "Junk" not in rows["attachment"]

    # read back from the servers: three on each system, the HTML one in the old Junk
    assert sorted(inbox_subjects(new, "alice")) == [
        "Quarterly figures (attachment)", "Quarterly figures (html)",
        "Quarterly figures (plain)"]
    assert sorted(inbox_subjects(old, "alice")) == [
        "Quarterly figures (attachment)", "Quarterly figures (plain)"]
    assert inbox_subjects(old, "alice", "Junk") == ["Quarterly figures (html)"]

    # what was stored: per system and message, placement, verdicts and latency
    data = json.loads(mailferry("status", str(w.toml), "--json").stdout)
    results = {(r["system"], r["kind"]): r
               for r in data["monitoring"]["deliverability"]["results"]}
    assert len(results) == 6 and all(r["arrived"] for r in results.values())
    assert all(r["latency"] is not None and r["latency"] >= 0 for r in results.values())
    assert (results["old", "html"]["folder"], results["old", "html"]["junk"]) == ("Junk", True)
    assert results["old", "html"]["verdicts"]["x-spam-status"] == [
        "Yes, score=6.3 tests=HTML_LINK"]
    assert "spf=none" in results["old", "plain"]["verdicts"]["authentication-results"][0]
    assert all(results["new", kind]["folder"] == "INBOX" and not results["new", kind]["junk"]
               for kind in ("plain", "html", "attachment"))
    # the attachment arrived whole on the new system
    conn = imap_login(new.host, new.port, "alice", new.password("alice"))
    try:
        conn.select("INBOX", readonly=True)
        _, found = conn.search(None, "SUBJECT", '"(attachment)"')
        _, body = conn.fetch(found[0].split()[0], "(BODY.PEEK[])")
    finally:
        conn.logout()
    assert b"figures-q3.csv" in body[0][1]  # type: ignore[index]

    page = tmp_path / "report.html"
    assert mailferry("report", str(w.toml), "--html", str(page)).returncode == 0
    html = page.read_text()
    assert "Deliverability" in html and "Yes, score=6.3 tests=HTML_LINK" in html
