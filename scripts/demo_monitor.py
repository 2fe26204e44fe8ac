"""The monitor demo: one `mailferry monitor --once` pass after a cutover, everything on
127.0.0.1. Two Dovecot systems (old, new) with LMTP, `mailferry relay` as the domain's MX,
two Knot DNS servers (one updated to the new MX, one still serving the old zone), an RDAP
server, an SMTP sink for alert mail. The mailboxes are migrated with `mailferry sync`, late
mail arrives at the old system, then the pass shows propagation per resolver, the probe on
both systems, the late mail copied, the relay's queue; `status` shows the Monitoring section.
Run it directly or from scripts/demo.py (`make demo`).
"""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import Dovecot, imap_login, seed  # noqa: E402
from testbed.dns import KnotDns  # noqa: E402
from testbed.messages import sample_mailbox  # noqa: E402
from testbed.monitorkit import CUTOVER, STALE, UPDATED, USERS, World  # noqa: E402
from testbed.net import free_port  # noqa: E402
from testbed.rdap import RdapServer, rdap_domain  # noqa: E402
from testbed.smtp_sink import SmtpSink  # noqa: E402


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def mailferry(*args: str) -> int:
    print("$ mailferry " + " ".join(args), flush=True)
    return subprocess.run([sys.executable, "-m", "mailferry", *args], cwd=REPO).returncode


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def late_mail(old: Dovecot, user: str, subject: str) -> None:
    """Mail a sender with the old MX cached still delivers to the old provider."""
    raw = (f"From: Partner <partner@outside.example>\r\nTo: {user}@bank.example\r\n"
           f"Subject: {subject}\r\n\r\nSent to the old MX after the cutover.\r\n").encode()
    with smtplib.LMTP("127.0.0.1", old.lmtp_port) as lmtp:
        lmtp.sendmail("partner@outside.example", [f"{user}@bank.example"], raw)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="mailferry-monitor-demo-"))
    updated, stale = KnotDns(dict(UPDATED)).start(), KnotDns(dict(STALE)).start()
    rdap = RdapServer({"bank.example": rdap_domain("bank.example")}).start()
    relay: subprocess.Popen[bytes] | None = None
    try:
        with Dovecot(lmtp=True, users=USERS) as old, Dovecot(lmtp=True, users=USERS) as new, \
                SmtpSink() as alerts:
            port = free_port()
            world = World(root=workdir, old=old, new=new,
                          nameservers=[updated.nameserver, stale.nameserver],
                          rdap_url=rdap.url, mx_port=port, alert_port=alerts.port,
                          relay_port=port, probe_wait=30)
            toml = world.write()
            print(f"project in {workdir}: the bank moved from the old to the new provider on "
                  f"{CUTOVER:%Y-%m-%d %H:%M} UTC; nameserver {updated.nameserver} has the new "
                  f"MX, {stale.nameserver} still the old one")
            for user in ("alice", "bob"):
                conn = imap_login(old.host, old.port, user, old.password(user))
                seed(conn, sample_mailbox(40, ["INBOX", "Sent"], seed=len(user)))
                conn.logout()
            banner("before the cutover: mailferry sync")
            mailferry("sync", "-p", str(toml))
            banner("mailferry relay  (the MX: probe mailbox to both systems, others to new)")
            relay = subprocess.Popen([sys.executable, "-m", "mailferry", "relay", "-p", str(toml)],
                                     cwd=REPO, stderr=subprocess.DEVNULL)
            wait_for_port(port)
            print(f"listening on 127.0.0.1:{port}")
            banner("after the cutover, 3 messages still reach the old system")
            late_mail(old, "alice", "invoice 4711")
            late_mail(old, "alice", "meeting moved")
            late_mail(old, "bob", "newsletter")
            now = (CUTOVER + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
            banner("one monitor pass, two hours after the cutover (exit 1: a person is needed)")
            code = mailferry("monitor", "-p", str(toml), "--once", "--now", now)
            print(f"exit status {code}; alert mails sent to the sink: {len(alerts.received)}")
            banner("mailferry status  (the Monitoring section)")
            mailferry("status", "-p", str(toml))
            return 0 if code in (0, 1) else code
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(timeout=60)
        rdap.stop()
        updated.cleanup()
        stale.cleanup()


if __name__ == "__main__":
    sys.exit(main())
