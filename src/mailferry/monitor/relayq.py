"""The dual-delivery relay, when the project has one: is it running, how old is the oldest
delivery waiting per upstream, how many were deferred. Read through the relay package's
public `Spool` (read-only: a running relay is not disturbed)."""

from __future__ import annotations

import time

from mailferry.monitor.context import MonitorContext
from mailferry.monitor.results import Check, CheckStatus


def relay_checks(ctx: MonitorContext) -> list[Check]:
    relay = ctx.migration.relay
    if relay is None:
        return []
    from mailferry.relay import Spool  # only when a relay is configured

    if not relay.spool.is_dir():
        return [Check("relay", "spool", CheckStatus.INFO,
                      f"no spool at {relay.spool}: the relay has not run")]
    spool = Spool(relay.spool)
    running = spool.running_relay_pid() is not None
    wanted = ctx.monitor.dual_delivery and ctx.clock.now() < ctx.migration.decommission
    checks = [Check("relay", "process", CheckStatus.OK if running or not wanted
                    else CheckStatus.WARN,
                    "the relay is running" if running else "the relay is not running")]
    queues: dict[str, dict[str, float]] = {name: {"pending": 0, "deferred": 0, "oldest": 0.0}
                                           for name in relay.upstreams}
    now = time.time()  # spool times are the real clock's
    for message in spool.pending().values():
        age = max(0.0, now - message.received_at)
        for delivery in message.deliveries.values():
            row = queues.setdefault(delivery.upstream,
                                    {"pending": 0, "deferred": 0, "oldest": 0.0})
            row["pending"] += 1
            row["deferred"] += 1 if delivery.attempts else 0
            row["oldest"] = max(row["oldest"], age)
    limit = ctx.monitor.relay_queue_age
    for upstream, row in sorted(queues.items()):
        text = (f"{row['pending']:.0f} waiting, {row['deferred']:.0f} deferred, oldest "
                f"{row['oldest']:.0f} s")
        if row["oldest"] > limit:
            status, text = CheckStatus.ALERT, f"{text}: older than {limit:.0f} s"
        else:
            status = CheckStatus.WARN if row["deferred"] else CheckStatus.OK
        checks.append(Check("relay", upstream, status, f"upstream {upstream}: {text}",
                            {"pending": int(row["pending"]), "deferred": int(row["deferred"]),
                             "oldest_seconds": round(row["oldest"], 1)}))
    return checks
