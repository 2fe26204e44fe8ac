"""Dual-delivery SMTP relay with a durable spool: every message reaches old and new."""

from mailferry.relay.delivery import Metrics
from mailferry.relay.routing import RoutingTable, parse_routes_csv
from mailferry.relay.runner import Relay
from mailferry.relay.spool import Spool, load_state

__all__ = ["Metrics", "Relay", "RoutingTable", "Spool", "load_state", "parse_routes_csv"]
