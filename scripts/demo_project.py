"""The project demo: an organisation of 20 users in 4 departments moves in waves.

A source Dovecot with realistic, varied mailboxes; a target Dovecot reached through its
master user (no user passwords on the target side); a pilot of 4 drawn across departments,
told in advance (notices in English and French, sent to a local SMTP sink and saved as
.eml files), then the rest, then a delta pass after new mail arrives. Prints the status
table and writes the HTML report and the mail clients' autoconfig files. Run it directly
or from scripts/demo.py (`make demo`), which gives the project's directory as the
argument and serves the live dashboard itself at its very end. Run directly, it serves the
dashboard (address and token printed) until Ctrl-C, but only at a terminal, so that CI and
pipes end on their own; MAILFERRY_DEMO_SERVE=1 serves anyway, =0 never does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from testbed import Dovecot, DovecotUser, SeedMessage, imap_login, seed  # noqa: E402
from testbed.messages import make_message, random_flags, sample_mailbox  # noqa: E402
from testbed.smtp_sink import SmtpSink  # noqa: E402

DEPARTMENTS = ("sales", "support", "marketing", "development")
FOLDERS = ["INBOX", "Sent", "Drafts", "Trash", "Projects", "Projects/2025", "Customers/Acme",
           "Caf&AOk-"]
MASTER = DovecotUser("admin", "demo-master-pw")


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def mailferry(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], cwd=REPO).returncode


def put(server: Dovecot, user: DovecotUser, messages: list[SeedMessage]) -> None:
    conn = imap_login(server.host, server.port, user.name, user.password)
    try:
        seed(conn, messages)
    finally:
        conn.logout()


def write_project(workdir: Path, source: Dovecot, target: Dovecot,
                  users: list[DovecotUser], sink_port: int) -> Path:
    (workdir / "master.pw").write_text(MASTER.password + "\n")
    # every third user reads French; notices go to their address at the organisation
    (workdir / "users.csv").write_text(
        "source_user,target_user,department,wave,name,language,notify_address\n" + "".join(
            f"{u.name},,{DEPARTMENTS[n % 4]},,{u.name.title()},{'fr' if n % 3 == 0 else 'en'},"
            f"{u.name}@example.org\n" for n, u in enumerate(users)))
    zone = ZoneInfo("Europe/Paris")
    pilot = dt.datetime.combine(dt.datetime.now(zone).date() + dt.timedelta(days=3),
                                dt.time(18, 0))
    (workdir / "secrets.csv").write_text("user,source_password,target_password\n" + "".join(
        f"{u.name},{u.password},\n" for u in users))
    toml = workdir / "migration.toml"
    toml.write_text(f"""\
[migration]
name = "Example Org"
domains = ["example.org"]
timezone = "{zone.key}"
cutover = {(pilot + dt.timedelta(days=14)).isoformat()}

[source]
imap = "imap://127.0.0.1:{source.port}"
auth = "password"
max_connections = 8

[target]
imap = "imap://127.0.0.1:{target.port}"
auth = "master"
master_user = "{MASTER.name}"
master_password = "file:master.pw"   # never the secret itself
smtp = "submission://smtp.example.org:587"  # what the notices tell people to set up

[users]
file = "users.csv"
secrets = "secrets.csv"

[filters]
exclude_special = ["\\\\Trash"]        # as announced to users: the trash does not move

[pilot]
size = 4

[waves.pilot]                          # local time in [migration] timezone
start = {pilot.isoformat()}
end = {(pilot + dt.timedelta(hours=15)).isoformat()}

[plan]
backup = true
fallback = "keep the old accounts and the old MX record ready for 14 days"

[notify]
lead_days = 2                          # a small organisation: two days' notice was agreed
sender = "Example Org IT <it@example.org>"
support = "it-help@example.org, extension 4242"
smtp = "smtp://127.0.0.1:{sink_port}"   # the demo's local SMTP sink (loopback, no TLS)

[sync]
state = "state.db"
mailboxes = 4
workers = 2
""")
    return toml


def should_serve() -> bool:
    """Serve the dashboard (until Ctrl-C) only for someone at a terminal, or when asked."""
    asked = os.environ.get("MAILFERRY_DEMO_SERVE", "")
    if asked in ("0", "1"):
        return asked == "1"
    return sys.stdin.isatty() and sys.stdout.isatty()


def serve(toml: Path) -> None:
    """The live dashboard until Ctrl-C (it reads the project's state: no server needed)."""
    banner("mailferry serve  (the live dashboard; open the address below, Ctrl-C stops)")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it ends
        mailferry("serve", "-p", str(toml), "--port",
                  os.environ.get("MAILFERRY_DEMO_PORT", "8080"))


def main() -> int:
    workdir = (Path(sys.argv[1]) if len(sys.argv) > 1
               else Path(tempfile.mkdtemp(prefix="mailferry-project-demo-")))
    names = ["ana", "bo", "chloe", "dmitri", "eve", "farah", "gus", "hana", "ivan", "jo",
             "kim", "lea", "max", "nora", "omar", "pia", "quinn", "rui", "sara", "tom"]
    users = [DovecotUser(name, f"{name}-old-pw") for name in names]
    rng = random.Random(5)
    with Dovecot(users=users) as source, Dovecot(users=users, master=MASTER) as target:
        banner(f"20 users on the source Dovecot ({source.url(names[0])} ...)")
        for n, user in enumerate(users):  # from a few dozen messages to a few hundred
            put(source, user, sample_mailbox(rng.randint(20, 250), FOLDERS, seed=n,
                                             sizes=(1500, rng.choice((8000, 30000, 90000)))))
        sink = SmtpSink().start()
        try:
            toml = write_project(workdir, source, target, users, sink.port)
            print(f"project in {workdir}: migration.toml, users.csv, secrets.csv")

            banner("mailferry waves --draw-pilot  (4 users across the 4 departments)")
            mailferry("waves", "-p", str(toml), "--draw-pilot")
            tell_the_pilot(toml, workdir, sink)
        finally:
            sink.stop()
        banner("mailferry sync --wave pilot")
        mailferry("sync", "-p", str(toml), "--wave", "pilot")
        banner("mailferry sync  (everyone else; the pilot costs one STATUS per folder)")
        mailferry("sync", "-p", str(toml))

        banner("new mail arrives for 5 users; mailferry sync  (delta pass)")
        for user in users[::4]:
            put(source, user, [SeedMessage(make_message(rng, 50_000 + k), "INBOX",
                                           random_flags(rng)) for k in range(3)])
        code = mailferry("sync", "-p", str(toml))
        banner("mailferry status")
        mailferry("status", "-p", str(toml))
        report = workdir / "report.html"
        mailferry("report", "-p", str(toml), "--html", str(report))
        print(f"\nHTML report: {report}")
        if should_serve():
            serve(toml)
        else:
            print(f"\nthe live dashboard of this project: {REPO}/.venv/bin/mailferry serve "
                  f"-p {toml}\n(the demo serves it itself at a terminal, or with "
                  "MAILFERRY_DEMO_SERVE=1)")
        return code


def tell_the_pilot(toml: Path, workdir: Path, sink: SmtpSink) -> None:
    """Notices to the pilot wave: a preview, the real sending to the local sink, a re-run
    that sends nothing, and the autoconfig files their mail clients can use."""
    banner("mailferry notify --preview  (what the pilot users will get; nothing is sent)")
    mailferry("notify", "-p", str(toml), "--wave", "pilot", "--preview",
              str(workdir / "preview"))
    banner(f"mailferry notify --wave pilot  (to the local SMTP sink on 127.0.0.1:{sink.port})")
    mailferry("notify", "-p", str(toml), "--wave", "pilot")
    received = workdir / "notices-received"
    received.mkdir()
    for n, message in enumerate(sink.received):
        (received / f"{n + 1:02d}-{message.rcpt_tos[0]}.eml").write_bytes(message.data)
    banner("mailferry notify --wave pilot  (again: nothing is sent twice)")
    mailferry("notify", "-p", str(toml), "--wave", "pilot")
    mailferry("notify", "-p", str(toml), "--list")
    mailferry("autoconfig", "--project", str(toml), "--out", str(workdir / "autoconfig"))
    print(f"\nThe sink received {len(sink.received)} notices; each is in {received}/ "
          f"(open the .eml in a mail client). Previews: {workdir / 'preview'}/")


if __name__ == "__main__":
    sys.exit(main())
