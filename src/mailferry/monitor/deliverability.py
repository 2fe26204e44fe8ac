"""`mailferry deliverability`: the same small set of test messages (plain text, HTML with a
link, one with an attachment) from a configured outside sender to a pilot user on the old
and on the new system; then, per system and message, where it landed (INBOX or Junk), the
receiver's authentication and spam verdicts, and how long it took. Stored for the report.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any

from mailferry.errors import MailferryError
from mailferry.monitor.context import MonitorContext
from mailferry.monitor.mailbox import find_by_header
from mailferry.monitor.smtp import SendFailed, submit
from mailferry.project import DeliverabilitySettings

HEADER = "X-Mailferry-Deliverability"
KINDS = ("plain", "html", "attachment")
SYSTEMS = ("old", "new")
_POLL = 1.0


def test_message(kind: str, token: str, sender: str, rcpt: str, at: dt.datetime) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = rcpt
    message["Subject"] = f"Quarterly figures ({kind})"
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid("deliverability", sender.rsplit("@", 1)[1])
    message[HEADER] = token
    text = ("Hello,\n\nthe figures for the quarter are ready; the summary is below.\n\n"
            "Revenue is up 4%, costs are flat.\n\nBest regards\n")
    message.set_content(text)
    if kind == "html":
        message.add_alternative(
            "<html><body><p>Hello,</p><p>the figures for the quarter are ready: "
            '<a href="https://www.example.com/reports/q3">read the summary</a>.</p>'
            "<p>Best regards</p></body></html>", subtype="html")
    elif kind == "attachment":
        message.add_attachment(b"quarter,revenue,costs\nQ3,104,100\n", maintype="text",
                               subtype="csv", filename="figures-q3.csv")
    return message.as_bytes(policy=SMTP)


@dataclass(frozen=True)
class _Sent:
    system: str
    kind: str
    token: str
    error: str | None


def run_deliverability(ctx: MonitorContext, settings: DeliverabilitySettings) -> dict[str, Any]:
    """Send, wait up to `settings.wait` for every message on both systems, store, return."""
    at = ctx.clock.now()
    run = uuid.uuid4().hex[:12]
    started = time.monotonic()
    sent: list[_Sent] = []
    for system, rcpt in (("old", settings.old_address), ("new", settings.new_address)):
        for kind in KINDS:
            token = f"{run}-{system}-{kind}"
            try:
                submit(settings.sender, base=ctx.monitor.base,
                       mail_from=settings.sender_address, rcpts=[rcpt],
                       message=test_message(kind, token, settings.sender_address, rcpt, at),
                       ca_file=ctx.migration.check.ca_file)
                sent.append(_Sent(system, kind, token, None))
            except SendFailed as exc:
                sent.append(_Sent(system, kind, token, str(exc)))
    results = _collect(ctx, settings, sent, started)
    detail = {"run": run, "at_iso": at.isoformat(timespec="seconds"),
              "sender": settings.sender_address, "old_address": settings.old_address,
              "new_address": settings.new_address, "results": results}
    ctx.state.record_deliverability(at.timestamp(), detail)
    return detail


def _collect(ctx: MonitorContext, settings: DeliverabilitySettings, sent: list[_Sent],
             started: float) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {
        s.token: {"system": s.system, "kind": s.kind, "arrived": False, "send_error": s.error,
                  "folder": None, "junk": None, "latency": None, "verdicts": {}}
        for s in sent}
    waiting = {s.token for s in sent if s.error is None}
    errors: dict[str, str] = {}
    since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)  # the servers' real time
    while waiting:
        for system in SYSTEMS:
            if not any(rows[t]["system"] == system for t in waiting):
                continue
            try:
                account = (ctx.old_account if system == "old" else ctx.new_account)(
                    settings.pilot_user)
                hits = find_by_header(account, HEADER, since=since)
            except MailferryError as exc:
                errors[system] = str(exc)
                continue
            for token in list(waiting):
                hit = hits.get(token)
                if hit is not None and rows[token]["system"] == system:
                    rows[token].update(hit.to_json(), arrived=True,
                                       latency=round(time.monotonic() - started, 3))
                    waiting.discard(token)
        if not waiting or time.monotonic() - started >= settings.wait or ctx.stop.is_set():
            break
        ctx.clock.wait(_POLL, ctx.stop)
    for row in rows.values():
        if not row["arrived"] and row["system"] in errors:
            row["read_error"] = errors[row["system"]]
    return sorted(rows.values(), key=lambda r: (KINDS.index(r["kind"]),
                                                SYSTEMS.index(r["system"])))
