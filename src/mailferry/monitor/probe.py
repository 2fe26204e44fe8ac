"""Mail flow: each pass mails a probe with a unique token to `[monitor] probe_address` the way
the outside world does (the domain's MX, as the configured resolvers give it), then looks
for it over IMAP on the new system (and on the old one while dual delivery runs).

A pass waits up to `probe_wait` for its own probe; a probe not found then is looked for again
by the next passes. Per system, the newest probe that has an outcome decides: found (latency,
folder, the receiver's verdict headers) or not found within `probe_timeout` (an alert). A
probe found in the Junk folder is a warning. Found probes are deleted from the monitor's
mailbox on the new system (unless `keep_probes`); the old system is only read.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from email.utils import format_datetime, make_msgid
from typing import Any

from mailferry.errors import MailferryError
from mailferry.monitor.context import MonitorContext
from mailferry.monitor.dns import resolvers
from mailferry.monitor.mailbox import Found, find_by_header
from mailferry.monitor.results import Check, CheckStatus
from mailferry.monitor.smtp import SendFailed, deliver_to_mx
from mailferry.store import Probe

PROBE_HEADER = "X-Mailferry-Probe"
_POLL = 1.0  # seconds between looks while a pass waits for its probe
_GIVE_UP = 4  # probe_timeouts after which a probe not found is no longer looked for


def probe_message(token: str, mail_from: str, rcpt: str, at: dt.datetime) -> bytes:
    return (f"From: mailferry monitor <{mail_from}>\r\nTo: <{rcpt}>\r\n"
            f"Subject: mailferry probe {token}\r\nDate: {format_datetime(at)}\r\n"
            f"Message-ID: {make_msgid('probe', 'monitor.invalid')}\r\n"
            f"{PROBE_HEADER}: {token}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            "This message checks that mail reaches this mailbox after the migration.\r\n"
            "mailferry deletes it when it finds it.\r\n").encode()


def systems(ctx: MonitorContext, now: dt.datetime) -> list[str]:
    watched = ["new"]
    if ctx.monitor.dual_delivery and now < ctx.migration.decommission:
        watched.append("old")
    return watched


def probe_checks(ctx: MonitorContext) -> list[Check]:
    monitor = ctx.monitor
    if not monitor.probe_address or not monitor.probe_user:
        return []
    now = ctx.clock.now()
    watched = systems(ctx, now)
    token = uuid.uuid4().hex
    started = time.monotonic()
    send = _send(ctx, token, now)
    ctx.state.add_probe(token, now.timestamp(), {"send": send, "found": {}})
    if send.get("error"):  # nothing to look for
        ctx.state.update_probe(token, {"send": send, "found": {}}, done=True)
    pending = ctx.state.probes(pending_only=True)
    errors = _look(ctx, pending, watched, token, started, wait=not send.get("error"))
    probes = ctx.state.probes(limit=50)
    checks = [Check("probe", "send", CheckStatus.ALERT if send.get("error") else CheckStatus.OK,
                    f"probe {token[:8]} could not be sent: {send['error']}" if send.get("error")
                    else f"probe {token[:8]} sent to {send['mx']} [{send['address']}]"
                    f":{send['port']}" + (" with STARTTLS" if send.get("tls") else ""), send)]
    for system in watched:
        if system in errors:
            checks.append(Check("probe", system, CheckStatus.WARN,
                                f"cannot look for probes on the {system} system: "
                                f"{errors[system]}"))
        else:
            checks.append(_verdict(ctx, system, probes, ctx.clock.now()))
    return checks


def _send(ctx: MonitorContext, token: str, now: dt.datetime) -> dict[str, Any]:
    monitor = ctx.monitor
    assert monitor.probe_address is not None
    domain = monitor.probe_address.rsplit("@", 1)[1].lower()
    message = probe_message(token, monitor.probe_from, monitor.probe_address, now)
    try:
        sent = deliver_to_mx(resolvers(ctx)[0], domain, monitor.smtp_port,
                             mail_from=monitor.probe_from, rcpt=monitor.probe_address,
                             message=message)
    except SendFailed as exc:
        return {"error": str(exc)}
    return {"mx": sent.mx, "address": sent.address, "port": sent.port, "tls": sent.tls,
            "tried": sent.tried}


def _look(ctx: MonitorContext, pending: list[Probe], watched: list[str], token: str,
          started: float, *, wait: bool) -> dict[str, str]:
    """Look for the pending probes until this pass's probe is found everywhere or
    `probe_wait` is over; record what was found. Returns the systems it could not search."""
    monitor = ctx.monitor
    assert monitor.probe_user is not None
    by_token = {p.token: p for p in pending}
    found: dict[str, dict[str, Any]] = {p.token: dict(p.detail.get("found", {}))
                                        for p in pending}
    # INTERNALDATE is the servers' real time, whatever the monitor's clock says: a probe
    # older than that is given up anyway
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=_GIVE_UP * monitor.probe_timeout)
             - dt.timedelta(days=1)).date()
    errors: dict[str, str] = {}
    while True:
        for system in watched:
            if token in found and system in found[token]:
                continue
            try:
                account = (ctx.new_account if system == "new" else ctx.old_account)(
                    monitor.probe_user)
                hits = find_by_header(account, PROBE_HEADER, since=since,
                                      delete=system == "new" and not monitor.keep_probes)
            except MailferryError as exc:
                errors[system] = str(exc)
                continue
            errors.pop(system, None)
            for hit_token, hit in hits.items():
                if hit_token in found and system not in found[hit_token]:
                    found[hit_token][system] = _arrival(ctx, by_token[hit_token], hit,
                                                        token, started)
        done = all(system in found.get(token, {}) for system in watched)
        if done or not wait or time.monotonic() - started >= monitor.probe_wait \
                or ctx.stop.is_set():
            break
        ctx.clock.wait(_POLL, ctx.stop)
    now = ctx.clock.now().timestamp()
    for probe in pending:
        complete = all(system in found[probe.token] for system in watched)
        given_up = now - probe.sent_at > _GIVE_UP * monitor.probe_timeout
        if found[probe.token] != probe.detail.get("found", {}) or complete or given_up:
            ctx.state.update_probe(probe.token, {**probe.detail, "found": found[probe.token]},
                                   done=complete or given_up)
    return errors


def _arrival(ctx: MonitorContext, probe: Probe, hit: Found, token: str,
             started: float) -> dict[str, Any]:
    if probe.token == token:  # this pass's probe: measured on a real timer
        latency, measured = time.monotonic() - started, "exact"
    else:  # found by a later pass: it took at most this long
        latency, measured = ctx.clock.now().timestamp() - probe.sent_at, "at most"
    return {**hit.to_json(), "latency": round(latency, 3), "measured": measured,
            "found_at": ctx.clock.now().timestamp()}


def _verdict(ctx: MonitorContext, system: str, probes: list[Probe],
             now: dt.datetime) -> Check:
    """The newest probe with an outcome on `system` decides."""
    limit = ctx.monitor.probe_timeout
    for probe in probes:  # newest first
        arrival = probe.detail.get("found", {}).get(system)
        sent = dt.datetime.fromtimestamp(probe.sent_at, dt.UTC)
        if arrival is not None:
            where = arrival["folder"]
            latency = f"{arrival['latency']:.1f} s" if arrival["measured"] == "exact" \
                else f"at most {arrival['latency']:.0f} s"
            auth = "; ".join(arrival["verdicts"].get("authentication-results", [])) or "none"
            detail = {"token": probe.token, "sent_at": probe.sent_at, **arrival}
            if arrival["junk"]:
                return Check("probe", system, CheckStatus.WARN,
                             f"probe arrived on the {system} system in {where} (Junk) after "
                             f"{latency}; Authentication-Results: {auth}", detail)
            return Check("probe", system, CheckStatus.OK,
                         f"probe arrived on the {system} system in {where} after {latency}; "
                         f"Authentication-Results: {auth}", detail)
        if probe.detail.get("send", {}).get("error"):
            continue  # never sent: the send check says so
        if (now - sent).total_seconds() > limit:
            return Check("probe", system, CheckStatus.ALERT,
                         f"no probe arrived on the {system} system within {limit:.0f} s "
                         f"(the newest decided was sent {sent:%Y-%m-%d %H:%M} UTC)",
                         {"token": probe.token, "sent_at": probe.sent_at})
    return Check("probe", system, CheckStatus.INFO,
                 f"probe on its way to the {system} system (waiting up to {limit:.0f} s)")
