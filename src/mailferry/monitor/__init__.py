"""After the cutover: DNS propagation and the domain, mail flow (probes), late mail copied
from the old mailboxes, the relay's queue, DMARC reports, deliverability; alerts once per
incident, history in the state, Prometheus metrics. The CLI uses only what is exported here.
"""

from mailferry.monitor.clock import Clock, ShiftedClock, SystemClock
from mailferry.monitor.context import MonitorContext, load_context
from mailferry.monitor.deliverability import KINDS, run_deliverability
from mailferry.monitor.dmarc import Ingested, SourceRow, files, findings, folder_messages, ingest
from mailferry.monitor.dmarc import sources as dmarc_sources
from mailferry.monitor.metrics import MonitorMetrics
from mailferry.monitor.results import Check, CheckStatus, PassResult
from mailferry.monitor.run import run_pass

__all__ = [
    "KINDS", "Check", "CheckStatus", "Clock", "Ingested", "MonitorContext", "MonitorMetrics",
    "PassResult", "ShiftedClock", "SourceRow", "SystemClock", "dmarc_sources", "files",
    "findings", "folder_messages", "ingest", "load_context", "run_deliverability", "run_pass",
]
