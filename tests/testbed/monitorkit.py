"""The world after a cutover, on real servers on 127.0.0.1:

- two Knot DNS instances serving two versions of bank.example: "updated" (MX on the new
  provider) and "stale" (still the old MX), so propagation shows per resolver;
- Dovecot for the old and the new system, both with LMTP;
- the relay in front of them as the MX (routes: the probe mailbox to both, everyone else
  to the new system), or an SMTP sink as an MX that swallows mail;
- an RDAP server, the test bed's SMTP sink for alert mail, and a local HTTP endpoint that
  records webhook POSTs.

Reading back uses stdlib imaplib, so the monitor is never checked with its own code.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mailferry.imap import TlsPolicy
from mailferry.monitor import MonitorContext, ShiftedClock, load_context
from testbed import Dovecot, DovecotUser, imap_login
from testbed.dns import zone_text

USERS = [DovecotUser(name, f"{name}-pw") for name in ("alice", "bob", "probe", "dmarc")]
CUTOVER = dt.datetime(2026, 12, 12, 12, 0, tzinfo=dt.UTC)  # [migration] cutover, in UTC
DECOMMISSION = dt.date(2027, 1, 31)
DKIM = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC3nm1"


def bank_zone(mx: str) -> str:
    return zone_text("bank.example", f"""
@ 300 IN MX 10 {mx}.
@ IN TXT "v=spf1 include:spf.newmail.example -all"
_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@bank.example"
nm1._domainkey IN TXT "{DKIM}"
""")


SHARED_ZONES = {
    "oldmail.example": zone_text("oldmail.example", "mx1 IN A 127.0.0.1\n"
                                 'spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'),
    "newmail.example": zone_text("newmail.example", "mx IN A 127.0.0.1\n"
                                 'spf IN TXT "v=spf1 ip4:198.51.100.0/24 -all"\n'
                                 "out26 IN A 198.51.100.26\n"),
    "100.51.198.in-addr.arpa": zone_text("100.51.198.in-addr.arpa",
                                         "26 IN PTR out26.newmail.example.\n"),
}
UPDATED = {"bank.example": bank_zone("mx.newmail.example"), **SHARED_ZONES}
STALE = {"bank.example": bank_zone("mx1.oldmail.example"), **SHARED_ZONES}


class WebhookEndpoint:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.status = status
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.posts.append(json.loads(body))
                owner.headers.append(dict(self.headers))
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class World:
    root: Path
    old: Dovecot
    new: Dovecot
    nameservers: list[str]
    rdap_url: str
    mx_port: int
    alert_port: int = 0
    webhook_url: str = ""
    relay_port: int | None = None  # a [relay] section listening here
    monitor_extra: str = ""
    probe: bool = True  # False: no probe_address/probe_user (no probes sent)
    old_upstream: str = ""  # the relay's `old` (default: the old Dovecot's LMTP)
    probe_wait: float = 20
    probe_timeout: str = "15m"  # "" leaves the key out (a test writes its own)
    extra: str = ""
    users: list[DovecotUser] = field(default_factory=lambda: USERS)

    @property
    def toml(self) -> Path:
        return self.root / "migration.toml"

    def write(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "users.csv").write_text("source_user,target_user,department,wave\n"
                                             "alice,,sales,pilot\nbob,,it,\n")
        (self.root / "secrets.csv").write_text(
            "user,source_password,target_password\n"
            + "".join(f"{u.name},{u.password},{u.password}\n" for u in self.users))
        servers = ", ".join(f'"{n}"' for n in self.nameservers)
        alerts = (f'alert_to = ["ops@bank.example"]\nalert_from = "monitor@bank.example"\n'
                  f'alert_smtp = "smtp://127.0.0.1:{self.alert_port}"\n'
                  if self.alert_port else "")
        webhook = f'webhook = "{self.webhook_url}"\n' if self.webhook_url else ""
        relay = ""
        if self.relay_port is not None:
            relay = f"""
[relay]
listen = "127.0.0.1:{self.relay_port}"
spool = "./spool"
domains = ["bank.example", "old.bank.example", "new.bank.example"]
old = "{self.old_upstream or f'lmtp://127.0.0.1:{self.old.lmtp_port}'}"
new = "lmtp://127.0.0.1:{self.new.lmtp_port}"
default_route = "new"
routes = "routes.csv"
retry_initial = 0.2
retry_max = 1
"""
            (self.root / "routes.csv").write_text(
                "probe@bank.example,both\nalice@old.bank.example,old\n"
                "alice@new.bank.example,new\n")
        self.toml.write_text(f"""\
[migration]
name = "bank"
domains = ["bank.example"]
timezone = "UTC"
cutover = {CUTOVER:%Y-%m-%dT%H:%M:%S}

[source]
imap = "imap://127.0.0.1:{self.old.port}"
mx = ["mx1.oldmail.example"]
auth = "password"

[target]
imap = "imap://127.0.0.1:{self.new.port}"
mx = ["mx.newmail.example"]
spf_include = "spf.newmail.example"
dkim_selectors = ["nm1"]
sending_ips = ["198.51.100.26"]
auth = "password"

[users]
file = "users.csv"
secrets = "secrets.csv"

[sync]
state = "state.db"
backoff = 0.2

[check]
nameservers = [{servers}]
rdap_url = "{self.rdap_url}"
timeout = 2

[monitor]
{'probe_address = "probe@bank.example"' if self.probe else ""}
{'probe_user = "probe"' if self.probe else ""}
smtp_port = {self.mx_port}
{f'probe_timeout = "{self.probe_timeout}"' if self.probe_timeout else ""}
probe_wait = {self.probe_wait}
decommission = {DECOMMISSION}
{alerts}{webhook}{self.monitor_extra}
{relay}{self.extra}""")
        return self.toml

    def context(self, now: dt.datetime) -> MonitorContext:
        return load_context(self.toml, ShiftedClock(now), TlsPolicy())


def inbox_subjects(server: Dovecot, user: str, folder: str = "INBOX") -> list[str]:
    conn = imap_login(server.host, server.port, user, server.password(user))
    try:
        typ, data = conn.select(folder, readonly=True)
        assert typ == "OK", data
        if int(data[0] or 0) == 0:
            return []
        _, items = conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        return [item[1].decode().split(":", 1)[1].strip() for item in items
                if isinstance(item, tuple)]
    finally:
        conn.logout()
