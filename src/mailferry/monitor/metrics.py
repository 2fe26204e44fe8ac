"""Prometheus metrics of the last pass (prometheus-client, its own registry), served on
`--metrics-port` (127.0.0.1 unless `--metrics-address` says otherwise) while the monitor
loops, so existing monitoring can scrape mailferry."""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from mailferry.monitor.results import CheckStatus, PassResult
from mailferry.store import MonitorState

_LEVEL = {CheckStatus.OK: 0, CheckStatus.INFO: 0, CheckStatus.WARN: 1, CheckStatus.ALERT: 2}


class MonitorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.last_pass = Gauge("mailferry_monitor_last_pass_timestamp_seconds",
                               "When the last monitor pass started (the monitor's clock).",
                               registry=r)
        self.alerts = Gauge("mailferry_monitor_alerts", "Checks that need a person.",
                            registry=r)
        self.incidents = Gauge("mailferry_monitor_open_incidents", "Incidents not resolved.",
                               registry=r)
        self.check = Gauge("mailferry_monitor_check_status",
                           "Each check of the last pass: 0 ok, 1 warn, 2 alert.",
                           ["area", "subject"], registry=r)
        self.probe_latency = Gauge("mailferry_probe_latency_seconds",
                                   "Latency of the newest probe found, per system.",
                                   ["system"], registry=r)
        self.probe_arrived = Gauge("mailferry_probe_arrived",
                                   "1 if the newest decided probe arrived, 0 if it did not.",
                                   ["system"], registry=r)
        self.late_mail = Gauge("mailferry_late_mail_messages",
                               "Messages copied from the old mailboxes after the cutover.",
                               ["user"], registry=r)
        self.relay_oldest = Gauge("mailferry_relay_queue_oldest_seconds",
                                  "Age of the oldest delivery waiting in the relay's spool.",
                                  ["upstream"], registry=r)
        self.relay_deferred = Gauge("mailferry_relay_deferred",
                                    "Deliveries in the relay's spool tried at least once.",
                                    ["upstream"], registry=r)
        self.old_mx = Gauge("mailferry_dns_resolvers_old_mx",
                            "Resolvers that still answer an MX other than the new one.",
                            ["domain"], registry=r)
        self.domain_days = Gauge("mailferry_domain_expiry_days",
                                 "Days until the domain's registration expires.", ["domain"],
                                 registry=r)
        self._lock = threading.Lock()

    def update(self, result: PassResult, state: MonitorState) -> None:
        with self._lock:
            self._update(result, state)

    def _update(self, result: PassResult, state: MonitorState) -> None:
        self.last_pass.set(result.at.timestamp())
        self.alerts.set(len(result.alerts))
        self.incidents.set(len(state.incidents(open_only=True, limit=10_000)))
        self.check.clear()
        old_mx: dict[str, int] = {}
        for check in result.checks:
            self.check.labels(check.area, check.subject).set(_LEVEL[check.status])
            detail: dict[str, Any] = check.detail
            if check.area == "probe" and check.subject in ("new", "old"):
                if "latency" in detail:
                    self.probe_latency.labels(check.subject).set(detail["latency"])
                    self.probe_arrived.labels(check.subject).set(1)
                elif check.status == CheckStatus.ALERT:
                    self.probe_arrived.labels(check.subject).set(0)
            elif check.area == "relay" and "oldest_seconds" in detail:
                self.relay_oldest.labels(check.subject).set(detail["oldest_seconds"])
                self.relay_deferred.labels(check.subject).set(detail["deferred"])
            elif check.area == "dns" and "side" in detail:
                old_mx.setdefault(detail["domain"], 0)
                old_mx[detail["domain"]] += detail["side"] != "new"
            elif check.area == "domain" and "days_left" in detail:
                self.domain_days.labels(check.subject).set(detail["days_left"])
        for domain, count in old_mx.items():
            self.old_mx.labels(domain).set(count)
        for row in state.late_mail():
            self.late_mail.labels(row["source_user"]).set(row["messages"])

    def serve(self, port: int, address: str = "127.0.0.1") -> Any:
        """Start the HTTP endpoint in a daemon thread; returns the server (shutdown())."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return server
