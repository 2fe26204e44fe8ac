"""Alerts: a probe that never arrives raises ONE alert (one mail to the test bed's SMTP
sink, one webhook POST to a real HTTP server) however many passes see it, and ONE
resolution when mail flows again. Time moves by the monitor's clock, not by sleeping."""

from __future__ import annotations

import datetime as dt
import email
from collections.abc import Callable

import pytest

from mailferry.monitor import CheckStatus, run_pass
from testbed.dns import KnotDns
from testbed.monitorkit import CUTOVER, WebhookEndpoint, World
from testbed.smtp_sink import SmtpSink


def _probe_mail(sink: SmtpSink) -> list[tuple[str, str]]:
    out = []
    for got in sink.received:
        message = email.message_from_bytes(got.data)
        if message["X-Mailferry-Incident"] == "probe new":
            out.append((str(message["Subject"]), message.get_payload()))
    return out


def test_a_lost_probe_alerts_once_and_resolves_once(
        world: Callable[..., World], alert_sink: SmtpSink, webhook: WebhookEndpoint,
        knots: tuple[KnotDns, KnotDns]) -> None:
    updated = [knots[0].nameserver]  # only the updated resolver: the probe is the only alert
    # the MX accepts the probes and keeps them: nothing reaches a mailbox
    with SmtpSink() as black_hole:
        w = world(with_relay=False, mx_port=black_hole.port, probe_wait=1, nameservers=updated,
                  monitor_extra="dual_delivery = false\n")
        start = CUTOVER + dt.timedelta(hours=1)
        ctx = w.context(start)
        try:
            statuses = []
            for minutes in (0, 20, 40, 60):  # probe_timeout is 15 min
                ctx.clock.set(start + dt.timedelta(minutes=minutes))  # type: ignore[attr-defined]
                result = run_pass(ctx)
                statuses.append(next(c.status for c in result.checks if c.key == "probe new"))
                assert {c.key for c in result.alerts} == ({"probe new"} if minutes else set())
                assert result.exit_status == (1 if minutes else 0)
        finally:
            ctx.state.close()
        assert len(black_hole.received) == 4  # every pass really sent its probe
    assert statuses == [CheckStatus.INFO, CheckStatus.ALERT, CheckStatus.ALERT,
                        CheckStatus.ALERT]
    mails = _probe_mail(alert_sink)
    assert len(mails) == 1 and "ALERT: probe new" in mails[0][0]
    assert "no probe arrived on the new system within 900 s" in mails[0][1]
    assert [(p["event"], p["incident"]) for p in webhook.posts] == [("opened", "probe new")]

    # mail flows again: the relay is the MX now; the next pass finds its probe
    w = world(nameservers=updated, monitor_extra="dual_delivery = false\n")  # same state
    ctx = w.context(start + dt.timedelta(minutes=80))
    try:
        result = run_pass(ctx)
        again = run_pass(ctx)
    finally:
        ctx.state.close()
    assert next(c.status for c in result.checks if c.key == "probe new") == CheckStatus.OK
    assert next(c.status for c in again.checks if c.key == "probe new") == CheckStatus.OK
    mails = _probe_mail(alert_sink)
    assert len(mails) == 2 and "resolved: probe new" in mails[1][0]
    events = [(p["event"], p["incident"]) for p in webhook.posts if p["incident"] == "probe new"]
    assert events == [("opened", "probe new"), ("resolved", "probe new")]
    assert webhook.posts[-1]["resolved_at"] is not None


def test_a_failed_webhook_is_tried_again_at_the_next_pass_only_until_it_gets_through(
        world: Callable[..., World], webhook: WebhookEndpoint,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint refuses (HTTP 503) once: the next pass tells it; the one after does not.
    Every POST carries the Bearer token from webhook_token; the token is stored nowhere."""
    monkeypatch.setenv("HOOK_TOKEN", "hook-s3cret")
    with SmtpSink() as black_hole:
        w = world(with_relay=False, mx_port=black_hole.port, alert_port=0,
                  probe_wait=1,
                  monitor_extra='dual_delivery = false\nwebhook_token = "env:HOOK_TOKEN"\n')
        start = CUTOVER + dt.timedelta(hours=1)
        ctx = w.context(start)
        try:
            run_pass(ctx)
            webhook.status = 503
            ctx.clock.set(start + dt.timedelta(minutes=20))  # type: ignore[attr-defined]
            failed = run_pass(ctx)
            webhook.status = 200
            for minutes in (40, 60):
                ctx.clock.set(start + dt.timedelta(minutes=minutes))  # type: ignore[attr-defined]
                run_pass(ctx)
        finally:
            ctx.state.close()
    assert any(c.area == "alerting" and "HTTP 503" in c.message for c in failed.checks)
    opened = [p for p in webhook.posts if p["incident"] == "probe new"]
    assert [p["event"] for p in opened] == ["opened", "opened"]  # the refused one, then once
    assert {h["Authorization"] for h in webhook.headers} == {"Bearer hook-s3cret"}
    for stored in w.root.glob("state.db*"):  # the database and its journal, if any
        assert b"hook-s3cret" not in stored.read_bytes()
