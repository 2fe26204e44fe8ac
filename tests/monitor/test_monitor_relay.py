"""The relay, when it runs: the monitor shows, per upstream, how many deliveries wait, how
many were deferred and how old the oldest is; one older than `relay_queue_age` is an alert,
resolved once the upstream takes the mail. The relay is real (SMTP in, LMTP/SMTP out); its
old upstream is a port nobody listens on, until the test starts an SMTP server there that
files into the old Dovecot."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable

from aiosmtpd.controller import Controller

from mailferry.monitor import CheckStatus, run_pass
from testbed import Dovecot, imap_login
from testbed.monitorkit import CUTOVER, World, inbox_subjects
from testbed.net import free_port


class IntoOld:
    def __init__(self, old: Dovecot) -> None:
        self.old = old

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        conn = imap_login(self.old.host, self.old.port, "alice", self.old.password("alice"))
        try:
            conn.append("INBOX", "", None, envelope.original_content)  # type: ignore[attr-defined]
        finally:
            conn.logout()
        return "250 filed"


def _queue(w: World) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "mailferry", "relay", "queue", str(w.toml),
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


def _wait_for(condition: Callable[[list[dict[str, object]]], bool], w: World) -> None:
    deadline = time.monotonic() + 120
    while not condition(_queue(w)):
        assert time.monotonic() < deadline, _queue(w)
        time.sleep(0.3)


def test_a_deferred_upstream_shows_its_queue_alerts_when_too_old_and_resolves(
        world: Callable[..., World], systems: tuple[Dovecot, Dovecot]) -> None:
    old, _new = systems
    old_port = free_port()
    w = world(old_upstream=f"smtp://127.0.0.1:{old_port}", probe=False, webhook_url="",
              alert_port=0, monitor_extra='relay_queue_age = "1s"\n')
    with smtplib.SMTP("127.0.0.1", w.mx_port, timeout=30) as smtp:
        smtp.sendmail("partner@partner.example", ["alice@old.bank.example"],
                      b"Subject: for the old system\r\n\r\nstill routed there\r\n")
    # no fixed sleep: until the relay has tried and the message is older than the limit
    _wait_for(lambda rows: any(r["upstream"] == "old" and int(str(r["attempts"])) >= 1
                               and float(str(r["age_seconds"])) > 1.5 for r in rows), w)
    ctx = w.context(CUTOVER + dt.timedelta(hours=1))
    try:
        stuck_pass = run_pass(ctx)
        checks = {c.key: c for c in stuck_pass.checks}
        assert checks["relay process"].status == CheckStatus.OK  # the relay is running
        stuck = checks["relay old"]
        assert stuck.status == CheckStatus.ALERT, stuck.message
        assert "1 waiting, 1 deferred" in stuck.message and "older than 1 s" in stuck.message
        assert (stuck.detail["pending"], stuck.detail["deferred"]) == (1, 1)
        assert checks["relay new"].status == CheckStatus.OK
        assert checks["relay new"].detail["pending"] == 0
        assert inbox_subjects(old, "alice") == []  # nothing reached the old system yet

        # the old system's MX comes back: the relay delivers, the incident resolves
        upstream = Controller(IntoOld(old), hostname="127.0.0.1", port=old_port)
        upstream.start()
        try:
            _wait_for(lambda rows: not rows, w)
        finally:
            upstream.stop()
        ctx.clock.set(CUTOVER + dt.timedelta(hours=2))  # type: ignore[attr-defined]
        flowing = {c.key: c for c in run_pass(ctx).checks}
        incidents = {i.key: i for i in ctx.state.incidents()}
    finally:
        ctx.state.close()
    assert flowing["relay old"].status == CheckStatus.OK, flowing["relay old"].message
    assert flowing["relay old"].detail["pending"] == 0
    assert incidents["relay old"].resolved_at is not None
    assert inbox_subjects(old, "alice") == ["for the old system"]
