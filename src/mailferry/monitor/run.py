"""One monitor pass: every area in turn, each as data; then incidents, alerts, history.

An area that fails in a way nobody foresaw becomes an alert of its own ("monitor <area>"),
so one broken check never hides the others; bad input (ConfigError) still stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mailferry.errors import ConfigError
from mailferry.monitor import dmarc
from mailferry.monitor.alerts import notify, reconcile
from mailferry.monitor.context import MonitorContext
from mailferry.monitor.dns import dns_checks
from mailferry.monitor.latemail import late_mail_checks
from mailferry.monitor.metrics import MonitorMetrics
from mailferry.monitor.probe import probe_checks
from mailferry.monitor.relayq import relay_checks
from mailferry.monitor.results import Check, CheckStatus, PassResult
from mailferry.plan import Severity

log = logging.getLogger("mailferry.monitor")

Area = Callable[[MonitorContext], list[Check]]


def dmarc_checks(ctx: MonitorContext) -> list[Check]:
    """Reports dropped in `dmarc_dir` or delivered to `dmarc_user`'s folder are ingested;
    every stored report counts towards the finding."""
    monitor = ctx.monitor
    at = ctx.clock.now()
    checks: list[Check] = []
    if monitor.dmarc_dir is not None and monitor.dmarc_dir.is_dir():
        done = dmarc.ingest(ctx.state, dmarc.files([monitor.dmarc_dir]), at.timestamp())
        checks += _skipped(done)
    if monitor.dmarc_user:
        account = ctx.new_account(monitor.dmarc_user)
        done = dmarc.ingest(ctx.state, dmarc.folder_messages(account, monitor.dmarc_folder),
                            at.timestamp())
        checks += _skipped(done)
    records = ctx.state.dmarc_records()
    if not records:
        return checks
    rows = dmarc.sources(ctx.migration, records)
    findings = dmarc.findings(ctx.migration, rows, at)
    for finding in findings:
        checks.append(Check("dmarc", finding.subject, CheckStatus.ALERT
                            if finding.severity == Severity.ERROR else CheckStatus.WARN,
                            f"{finding.message}. {finding.advice}", {"rule": finding.rule}))
    after = sum(r.after["messages"] for r in rows)
    checks.append(Check("dmarc", "sources", CheckStatus.OK if not findings else CheckStatus.INFO,
                        f"{len(rows)} sending sources in {ctx.state.dmarc_report_count()} "
                        f"reports; {after} messages after the cutover",
                        {"sources": [r.to_json() for r in rows]}))
    return checks


def _skipped(done: dmarc.Ingested) -> list[Check]:
    return [Check("dmarc", "input", CheckStatus.WARN, f"not an aggregate report: {why}")
            for why in done.skipped]


AREAS: list[tuple[str, Area]] = [
    ("dns", dns_checks), ("probe", probe_checks), ("late-mail", late_mail_checks),
    ("relay", relay_checks), ("dmarc", dmarc_checks),
]


def run_pass(ctx: MonitorContext, metrics: MonitorMetrics | None = None) -> PassResult:
    now = ctx.clock.now()
    migration = ctx.migration
    phase = ("before-cutover" if now < migration.cutover else
             "after-decommission" if now >= migration.decommission else "after-cutover")
    result = PassResult(now, phase=phase)
    for name, area in AREAS:
        try:
            result.add(*area(ctx))
        except ConfigError:
            raise
        except Exception as exc:
            log.exception("monitor area %s failed", name)
            result.add(Check("monitor", name, CheckStatus.ALERT,
                             f"could not check {name}: {type(exc).__name__}: {exc}"))
    reconcile(ctx, result)
    errors = notify(ctx)
    for error in errors:
        result.add(Check("alerting", "delivery", CheckStatus.WARN,
                         f"an alert could not be delivered (tried again next pass): {error}"))
    summary = result.to_json()
    summary["open_incidents"] = [i.to_json() for i in ctx.state.incidents(open_only=True)]
    ctx.state.record_pass(now.timestamp(), len(result.alerts), summary)
    if metrics is not None:
        metrics.update(result, ctx.state)
    return result
