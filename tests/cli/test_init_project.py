"""`mailferry init` writes one whole project that every command accepts as it is (issue 19
§1): only the server addresses are pointed at the test bed (Dovecot with LMTP, Knot, a local
RDAP server and an SMTP sink on 127.0.0.1), nothing else of the file is touched, and each
command runs on it without "missing section"; outcomes are read back from the servers."""

from __future__ import annotations

import csv
import os
import re
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed import Dovecot, DovecotUser, imap_login, list_folders, read_folder, seed
from testbed.dns import KnotDns, zone_text
from testbed.messages import sample_mailbox
from testbed.net import free_port
from testbed.rdap import RdapServer, rdap_domain
from testbed.smtp_sink import SmtpSink

MAILFERRY = Path(sys.executable).with_name("mailferry")  # the console script pyproject installs
NOT_ACCEPTED = re.compile(r"missing section|no \[\w+\] section|section \[\w+\] is required",
                          re.IGNORECASE)


def mailferry(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MAILFERRY), *args], cwd=project, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200"})


def accepted(done: subprocess.CompletedProcess[str]) -> bool:
    return NOT_ACCEPTED.search(done.stderr + done.stdout) is None


def sample_users(project: Path) -> tuple[list[DovecotUser], list[DovecotUser]]:
    """The users of the sample secrets.csv, with their old and new passwords."""
    with (project / "secrets.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return ([DovecotUser(r["user"], r["source_password"]) for r in rows],
            [DovecotUser(r["user"], r["target_password"]) for r in rows])


@pytest.fixture
def rdap() -> Iterator[RdapServer]:
    server = RdapServer({"example.com": rdap_domain("example.com")}).start()
    yield server
    server.stop()


@pytest.fixture
def knot() -> Iterator[KnotDns]:
    server = KnotDns({"example.com": zone_text(
        "example.com", "@ IN MX 10 mx1.oldmail.example.\n"
        '@ IN TXT "v=spf1 include:spf.oldmail.example -all"\n')}).start()
    yield server
    server.cleanup()


def point_at_test_bed(project: Path, source: Dovecot, target: Dovecot, relay_port: int,
                      sink: SmtpSink, knot: KnotDns, rdap: RdapServer) -> None:
    """What an admin edits first: the servers' addresses. Nothing else."""
    toml = project / "migration.toml"
    text = toml.read_text()
    for old, new in {
        '"imaps://imap.oldmail.example:993"': f'"imap://127.0.0.1:{source.port}"',
        '"imaps://imap.newmail.example:993"': f'"imap://127.0.0.1:{target.port}"',
        '"127.0.0.1:2525"': f'"127.0.0.1:{relay_port}"',
        '"smtp://mx1.oldmail.example:25"': f'"lmtp://127.0.0.1:{source.lmtp_port}"',
        '"smtp://mx.newmail.example:25"': f'"lmtp://127.0.0.1:{target.lmtp_port}"',
        '"submission://smtp.outside.example:587"': f'"smtp://127.0.0.1:{sink.port}"',
        "# [check] ": "[check] ",
        '# nameservers = ["192.0.2.53"]': f'nameservers = ["{knot.nameserver}"]',
        '# rdap_url = "https://rdap.example/"': f'rdap_url = "{rdap.url}"',
        "# timeout = 5": "timeout = 2",
        # not an address: the test does not wait the 2 minutes a real mail may take
        'sender_address = "tester@outside.example"':
            'sender_address = "tester@outside.example"\nwait = "2s"',
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    toml.write_text(text)


def folder(server: Dovecot, user: DovecotUser, name: str) -> list[bytes]:
    conn = imap_login(server.host, server.port, user.name, user.password)
    try:
        return [m.body for m in read_folder(conn, name)]
    finally:
        conn.logout()


def folders(server: Dovecot, user: DovecotUser) -> set[str]:
    conn = imap_login(server.host, server.port, user.name, user.password)
    try:
        return set(list_folders(conn))
    finally:
        conn.logout()


def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    for _ in range(200):
        assert process.poll() is None, process.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the relay never listened")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(what)


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
