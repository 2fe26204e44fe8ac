"""`mailferry init` writes one whole project that every command accepts as it is (issue 19
§1): only the server addresses are pointed at the test bed (Dovecot with LMTP, Knot, a local
RDAP server and an SMTP sink on 127.0.0.1), nothing else of the file is touched, and each
command runs on it without "missing section"; outcomes are read back from the servers."""

from __future__ import annotations

import signal
import smtplib
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, imap_login, seed
from testbed.dns import KnotDns
from testbed.initkit import (
    MAILFERRY,
    accepted,
    folder,
    folders,
    mailferry,
    point_at_test_bed,
    sample_users,
    wait_for,
    wait_for_port,
)
from testbed.messages import sample_mailbox
from testbed.net import free_port
from testbed.rdap import RdapServer
from testbed.smtp_sink import SmtpSink

pytestmark = pytest.mark.slow  # every command on a fresh project: `make test-slow`


def test_every_command_accepts_a_fresh_project(
        tmp_path: Path, dovecot_factory: Callable[..., Dovecot], knot: KnotDns,
        rdap: RdapServer) -> None:
    project = tmp_path / "project"
    project.mkdir()
    done = mailferry(project, "init")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((project / "secrets.csv").stat().st_mode) == 0o600
    old_users, new_users = sample_users(project)
    source = dovecot_factory(users=old_users, lmtp=True)
    target = dovecot_factory(users=new_users, lmtp=True)
    for n, user in enumerate(old_users):
        conn = imap_login(source.host, source.port, user.name, user.password)
        seed(conn, sample_mailbox(6, ["INBOX", "Projects"], seed=n))
        conn.logout()
    relay_port = free_port()
    with SmtpSink() as sink:
        point_at_test_bed(project, source, target, relay_port, sink, knot, rdap)
        # planning: read the file, the DNS and RDAP of the test bed
        for args in (["check"], ["plan", "-o", "runbook.md"], ["waves"],
                     ["waves", "--draw-pilot"], ["notify", "--list"],
                     ["notify", "--wave", "pilot", "--preview", "preview"],
                     ["autoconfig", "--out", "autoconfig"]):
            done = mailferry(project, *args)
            assert accepted(done) and done.returncode in (0, 1), (args, done.stderr)
        assert "## " in (project / "runbook.md").read_text()
        assert sum(1 for row in (project / "users.csv").read_text().splitlines()
                   if row.endswith(",pilot,Alice Example,en") or ",pilot," in row) == 2
        # the relay delivers to the old system by default (read back over IMAP)
        relay = subprocess.Popen([str(MAILFERRY), "relay"], cwd=project, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for_port(relay_port, relay)
            with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as smtp:
                smtp.sendmail("someone@elsewhere.example", ["bob@example.com"],
                              b"Subject: through the relay\r\nMessage-ID: <r1@x>\r\n\r\nhi\r\n")
            wait_for(lambda: any(b"through the relay" in body
                                 for body in folder(source, old_users[1], "INBOX")),
                     "the relay did not deliver to the old system")
        finally:
            relay.send_signal(signal.SIGTERM)
            _out, err = relay.communicate(timeout=60)
        assert relay.returncode == 0, err
        for args in (["relay", "status"], ["relay", "queue"]):
            done = mailferry(project, *args)
            assert accepted(done) and done.returncode == 0, (args, done.stderr)
        # the move: the pilot, everyone, status, verify, backup, report
        for args in (["sync", "--wave", "pilot"], ["sync"], ["status"],
                     ["verify", "-p", "migration.toml"], ["backup", "-p", "migration.toml",
                                                          "backups"],
                     ["report"], ["report", "--html", "report.html"], ["report", "--json"]):
            done = mailferry(project, *args)
            assert accepted(done) and done.returncode == 0, (args, done.stderr)
        for user in new_users:  # every sample user's mail is on the new system
            assert folders(target, user) >= {"INBOX", "Projects"}
            assert folder(target, user, "Projects")
        assert (project / "backups").is_dir() and (project / "report.html").stat().st_size
        # after the cutover: they run on the same file (their findings are theirs)
        for args in (["monitor", "--once"], ["deliverability"], ["dmarc"]):
            done = mailferry(project, *args, timeout=240)
            assert accepted(done) and done.returncode in (0, 1), (args, done.stderr)
        assert sink.received, "deliverability sent nothing through [deliverability]"
    logs = sorted(p.name for p in (project / "logs").iterdir())
    assert any(name.endswith("-sync.log") for name in logs), logs
