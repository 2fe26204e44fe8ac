"""A monitor pass in the post-cutover world: DNS per resolver (one updated, one stale), the
domain by RDAP, SPF/DKIM/DMARC and PTR, a probe through the real relay (the MX) to both
Dovecot systems, the relay's queue; every result stored in the state's history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from mailferry.monitor import CheckStatus, PassResult, run_pass
from mailferry.store import MonitorState
from testbed import imap_login
from testbed.monitorkit import CUTOVER, World, inbox_subjects
from testbed.rdap import RdapServer, rdap_domain


def _by_key(result: PassResult) -> dict[str, tuple[CheckStatus, str]]:
    return {c.key: (c.status, c.message) for c in result.checks}


def test_propagation_is_seen_per_resolver_and_a_stale_one_alerts_after_a_ttl(
        world: Callable[..., World]) -> None:
    w = world()
    updated, stale = w.nameservers
    ctx = w.context(CUTOVER + dt.timedelta(seconds=60))
    try:
        early = _by_key(run_pass(ctx))
        ctx.clock.set(CUTOVER + dt.timedelta(hours=2))  # type: ignore[attr-defined]
        late = _by_key(run_pass(ctx))
    finally:
        ctx.state.close()
    assert early[f"dns bank.example @ {updated}"][0] == CheckStatus.OK
    status, message = early[f"dns bank.example @ {stale}"]
    assert status == CheckStatus.WARN and "mx1.oldmail.example" in message
    assert "TTL left 300 s" in message
    status, message = late[f"dns bank.example @ {stale}"]
    assert status == CheckStatus.ALERT and "not updated" in message
    assert late[f"dns bank.example @ {updated}"][0] == CheckStatus.OK
    # the domain, SPF/DMARC/DKIM and the forward-confirmed PTR, as the servers say
    status, message = late["domain bank.example"]
    assert status == CheckStatus.OK and "Example Registrar, Inc." in message
    assert "clientTransferProhibited" in message
    assert "SPF v=spf1 include:spf.newmail.example -all" in late["auth bank.example"][1]
    assert "DKIM nm1: key published" in late["auth bank.example"][1]
    assert "forward-confirmed" in late["ptr 198.51.100.26"][1]


def test_probe_reaches_both_systems_through_the_mx_and_is_stored(
        world: Callable[..., World]) -> None:
    w = world()
    ctx = w.context(CUTOVER + dt.timedelta(hours=1))
    try:
        result = run_pass(ctx)
    finally:
        ctx.state.close()
    checks = _by_key(result)
    assert checks["probe send"][0] == CheckStatus.OK, checks["probe send"]
    assert f":{w.mx_port}" in checks["probe send"][1]
    for system in ("new", "old"):
        status, message = checks[f"probe {system}"]
        assert status == CheckStatus.OK, message
        assert f"on the {system} system in INBOX" in message
    # read back from the servers: the probe is gone from the new mailbox (deleted once
    # found), still on the old one (read-only there)
    assert inbox_subjects(w.new, "probe") == []
    token = next(c.detail["token"] for c in result.checks if c.key == "probe new")
    assert inbox_subjects(w.old, "probe") == [f"mailferry probe {token}"]
    # the history holds the pass, every check of it
    with MonitorState.open(w.root / "state.db") as state:
        stored = state.passes()
    assert len(stored) == 1 and stored[0]["alerts"] == result.exit_status == len(result.alerts)
    assert {c["area"] for c in stored[0]["checks"]} >= {"dns", "domain", "probe", "relay",
                                                        "late-mail"}


def test_a_probe_in_junk_is_a_warning_with_the_receivers_verdicts(
        world: Callable[..., World]) -> None:
    """A receiver that files the probe as spam (here: an MX that stores it in Junk with its
    verdict headers, as a filter would) is reported with the headers it added."""
    w = world(with_relay=False, monitor_extra="dual_delivery = false\n")
    ctx = w.context(CUTOVER + dt.timedelta(hours=1))
    # the "MX" files the probe into Junk with a spam verdict
    from aiosmtpd.controller import Controller

    class IntoJunk:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            data: bytes = envelope.original_content  # type: ignore[attr-defined]
            verdict = (b"Authentication-Results: mx.newmail.example; spf=fail "
                       b"smtp.mailfrom=monitor.invalid\r\nX-Spam-Status: Yes, score=7.1\r\n")
            conn = imap_login(w.new.host, w.new.port, "probe", w.new.password("probe"))
            try:
                conn.append("Junk", "", None, verdict + data)
            finally:
                conn.logout()
            return "250 OK"

    mx = Controller(IntoJunk(), hostname="127.0.0.1", port=w.mx_port)
    mx.start()
    try:
        result = run_pass(ctx)
    finally:
        mx.stop()
        ctx.state.close()
    status, message = _by_key(result)["probe new"]
    detail = next(c.detail for c in result.checks if c.key == "probe new")
    assert status == CheckStatus.WARN, message
    assert detail["folder"] == "Junk" and detail["junk"] is True
    assert detail["verdicts"]["x-spam-status"] == ["Yes, score=7.1"]
    assert "spf=fail" in message


def test_a_domain_about_to_expire_is_an_alert_with_its_registrar_and_locks(
        world: Callable[..., World]) -> None:
    expires = CUTOVER + dt.timedelta(days=20, hours=6)  # [monitor] domain_expiry_days: 30
    server = RdapServer({"bank.example": rdap_domain(
        "bank.example", status=["client transfer prohibited"], registrar="Slow Registrar",
        events={"registration": "2009-03-11T09:27:04Z",
                "expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})}).start()
    try:
        w = world(with_relay=False, probe=False, rdap_url=server.url)
        ctx = w.context(CUTOVER + dt.timedelta(hours=1))
        try:
            result = run_pass(ctx)
        finally:
            ctx.state.close()
    finally:
        server.stop()
    status, message = _by_key(result)["domain bank.example"]
    assert status == CheckStatus.ALERT, message
    assert f"expires {expires:%Y-%m-%d} (20 days)" in message
    assert "Slow Registrar" in message and "clientTransferProhibited" in message
