"""Helpers for tests that run commands on a project `mailferry init` wrote, pointed at
test bed servers on 127.0.0.1 (test_init_project, test_walkthrough)."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, DovecotUser, imap_login, list_folders, read_folder
from testbed.dns import KnotDns
from testbed.rdap import RdapServer
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
    for _ in range(1200):  # up to a minute: a loaded machine delivers late
        assert process.poll() is None, process.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the relay never listened")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1200):  # up to a minute: a loaded machine delivers late
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(what)
