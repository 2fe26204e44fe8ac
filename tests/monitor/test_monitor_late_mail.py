"""Late mail: after the cutover, mail still delivered to the old mailboxes is copied to the new
ones by the monitor's delta pass, exactly once (re-runs add nothing, read back from the
server), counted per user; not before the cutover, not after the decommission date."""

from __future__ import annotations

import datetime as dt
import smtplib
import subprocess
import sys
from collections.abc import Callable

from mailferry.monitor import CheckStatus, run_pass
from mailferry.store import MonitorState
from testbed import Dovecot, imap_login, seed
from testbed.monitorkit import CUTOVER, DECOMMISSION, World, inbox_subjects
from testbed.seed import SeedMessage


def _deliver(server: Dovecot, user: str, subject: str) -> None:
    """Mail arriving at the old provider: delivered by its MTA over LMTP."""
    raw = (f"From: Partner <partner@outside.example>\r\nTo: {user}@bank.example\r\n"
           f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@outside.example>"
           "\r\n\r\nStill using the old MX.\r\n").encode()
    with smtplib.LMTP("127.0.0.1", server.lmtp_port) as lmtp:
        lmtp.sendmail("partner@outside.example", [f"{user}@bank.example"], raw)


def _migrate(w: World) -> None:
    """The migration before the cutover: the mailboxes copied by `mailferry sync`."""
    done = subprocess.run([sys.executable, "-m", "mailferry", "sync", str(w.toml)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_late_mail_is_copied_exactly_once_until_decommission(
        world: Callable[..., World]) -> None:
    w = world(monitor_extra="dual_delivery = false\n")
    conn = imap_login(w.old.host, w.old.port, "alice", w.old.password("alice"))
    try:
        seed(conn, [SeedMessage(b"Subject: before %d\r\nMessage-ID: <b%d@x>\r\n\r\nold\r\n"
                                % (n, n)) for n in range(3)])
    finally:
        conn.logout()
    _migrate(w)
    assert len(inbox_subjects(w.new, "alice")) == 3

    _deliver(w.old, "alice", "late one")
    _deliver(w.old, "alice", "late two")
    _deliver(w.old, "bob", "late for bob")
    before = w.context(CUTOVER - dt.timedelta(hours=1))
    try:  # before the cutover the monitor copies nothing
        result = run_pass(before)
    finally:
        before.state.close()
    late = next(c for c in result.checks if c.key == "late-mail all")
    assert late.status == CheckStatus.INFO and "before the cutover" in late.message
    assert len(inbox_subjects(w.new, "alice")) == 3

    ctx = w.context(CUTOVER + dt.timedelta(hours=1))
    try:
        first = run_pass(ctx)
        second = run_pass(ctx)
    finally:
        ctx.state.close()
    messages = {c.key: c.message for c in first.checks}
    assert "alice: 2 late messages copied" in messages["late-mail alice"]
    assert "bob: 1 late messages copied" in messages["late-mail bob"]
    assert "3 late messages copied this pass" in messages["late-mail all"]
    assert "0 late messages copied this pass, 3 since the cutover" in next(
        c.message for c in second.checks if c.key == "late-mail all")
    assert not [c for c in second.checks if c.key == "late-mail alice"]
    # read back from the new server: each late message once, nothing doubled
    alice = inbox_subjects(w.new, "alice")
    assert sorted(alice) == ["before 0", "before 1", "before 2", "late one", "late two"]
    assert inbox_subjects(w.new, "bob") == ["late for bob"]
    # the probe mailbox is the monitor's own: never copied as late mail
    assert inbox_subjects(w.new, "probe") == []
    with MonitorState.open(w.root / "state.db") as state:
        counted = {r["source_user"]: (r["messages"], r["last_messages"])
                   for r in state.late_mail()}
    assert counted == {"alice": (2, 0), "bob": (1, 0)}

    _deliver(w.old, "alice", "after the end")
    end = dt.datetime.combine(DECOMMISSION, dt.time(), tzinfo=dt.UTC)
    after = w.context(end + dt.timedelta(hours=1))
    try:
        result = run_pass(after)
    finally:
        after.state.close()
    assert "decommissioned" in next(c.message for c in result.checks
                                    if c.key == "late-mail all")
    assert "after the end" not in inbox_subjects(w.new, "alice")
