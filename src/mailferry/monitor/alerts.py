"""Incidents and who hears of them.

An alerting check opens an incident (keyed by its area and subject); while it keeps alerting
the incident stays open and nobody is told again; when it stops, the incident is resolved.
Each channel (mail through `alert_smtp`, a JSON POST to `webhook`) is told of each event
once, and the state remembers which were told: a channel that failed is tried again at the
next pass, one that succeeded never again for that event.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import logging
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import httpx

from mailferry.monitor.context import MonitorContext
from mailferry.monitor.results import PassResult
from mailferry.monitor.smtp import SendFailed, submit
from mailferry.project import resolve_secret
from mailferry.store import Incident

log = logging.getLogger("mailferry.monitor")
EVENTS = ("opened", "resolved")
_TOO_OLD = dt.timedelta(days=1)  # a resolved incident nobody was told of is left alone after


def reconcile(ctx: MonitorContext, result: PassResult) -> None:
    """Open, keep or resolve incidents from this pass's alerts."""
    at = result.at.timestamp()
    alerting = {check.key: check for check in result.alerts}
    for incident in ctx.state.incidents(open_only=True, limit=10_000):
        check = alerting.pop(incident.key, None)
        if check is None:
            ctx.state.resolve_incident(incident.id, at)
        elif check.message != incident.last_message:
            ctx.state.update_incident(incident.id, check.message)
    for key, check in alerting.items():
        ctx.state.open_incident(key, check.message, at)


def channels(ctx: MonitorContext) -> list[str]:
    return (["email"] if ctx.monitor.alert_to else []) + (["webhook"] if ctx.monitor.webhook
                                                          else [])


def notify(ctx: MonitorContext) -> list[str]:
    """Tell every channel of every event it has not heard of; the failures, as text."""
    wanted = channels(ctx)
    if not wanted:
        return []
    errors: list[str] = []
    horizon = (ctx.clock.now() - _TOO_OLD).timestamp()
    for incident in ctx.state.incidents(limit=500):
        if incident.resolved_at is not None and incident.resolved_at < horizon:
            continue
        for channel in wanted:
            for event in EVENTS:
                if not _due(incident, event, channel):
                    continue
                try:
                    _send(ctx, channel, event, incident)
                except (SendFailed, httpx.HTTPError, _WebhookRefused) as exc:
                    errors.append(f"{channel}: {exc}")
                    log.warning("alert %s of %r by %s failed: %s", event, incident.key,
                                channel, exc)
                    break  # the resolution waits for the opening to get through
                ctx.state.mark_sent(incident.id, event, channel)
    return errors


def _due(incident: Incident, event: str, channel: str) -> bool:
    if event == "opened":
        return channel not in incident.opened_sent
    return (incident.resolved_at is not None and channel in incident.opened_sent
            and channel not in incident.resolved_sent)


class _WebhookRefused(Exception):
    pass


def payload(ctx: MonitorContext, event: str, incident: Incident) -> dict[str, Any]:
    return {"project": ctx.migration.name, "event": event, "incident": incident.key,
            "message": incident.last_message if event == "resolved" else incident.message,
            "opened_at": _iso(incident.opened_at), "resolved_at": _iso(incident.resolved_at)}


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def _send(ctx: MonitorContext, channel: str, event: str, incident: Incident) -> None:
    data = payload(ctx, event, incident)
    if channel == "webhook":
        _post(ctx, data)
    else:
        _mail(ctx, data)


def _post(ctx: MonitorContext, data: dict[str, Any]) -> None:
    monitor = ctx.monitor
    assert monitor.webhook is not None
    headers = {"User-Agent": "mailferry-monitor"}
    if monitor.webhook_token:
        token = resolve_secret(monitor.webhook_token, where="[monitor] webhook_token",
                               base=monitor.base)
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(monitor.webhook, json=data, headers=headers, timeout=15.0,
                          verify=ctx.migration.check.ca_file or True)
    if not 200 <= response.status_code < 300:
        raise _WebhookRefused(f"{monitor.webhook}: HTTP {response.status_code}")


def _mail(ctx: MonitorContext, data: dict[str, Any]) -> None:
    monitor = ctx.monitor
    assert monitor.alert_smtp is not None and monitor.alert_from is not None
    message = EmailMessage()
    word = "ALERT" if data["event"] == "opened" else "resolved"
    message["Subject"] = f"[mailferry {data['project']}] {word}: {data['incident']}"
    message["From"] = monitor.alert_from
    message["To"] = ", ".join(monitor.alert_to)
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = make_msgid("alert", "mailferry.invalid")
    message["X-Mailferry-Incident"] = data["incident"]
    message.set_content(
        f"{word}: {data['incident']}\n\n{data['message']}\n\nopened {data['opened_at']}"
        + (f"\nresolved {data['resolved_at']}" if data["resolved_at"] else "")
        + f"\n\n-- mailferry monitor, project {data['project']}\n")
    submit(monitor.alert_smtp, base=monitor.base, mail_from=monitor.alert_from,
           rcpts=list(monitor.alert_to),
           message=message.as_bytes(policy=email.policy.SMTP),
           ca_file=ctx.migration.check.ca_file)
