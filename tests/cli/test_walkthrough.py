"""The README's walkthrough of a whole migration cannot go stale (issue 19 §1): every line of
its `sh` blocks (between `<!-- walkthrough -->` and `<!-- /walkthrough -->`) runs, in
order, against Dovecot (IMAP and LMTP), Knot and an RDAP server on 127.0.0.1, each exit
status is checked, and what the steps promise is read back from the servers."""

from __future__ import annotations

import os
import re
import shlex
import signal
import smtplib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, DovecotUser, imap_login, seed
from testbed.dns import KnotDns
from testbed.initkit import folder, point_at_test_bed, sample_users, wait_for, wait_for_port
from testbed.messages import sample_mailbox
from testbed.net import free_port
from testbed.rdap import RdapServer
from testbed.smtp_sink import SmtpSink

pytestmark = pytest.mark.slow  # the README walkthrough end to end: `make test-slow`

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # where the console script `mailferry` is
# the steps that may end 1 on a fresh project: check reports findings by its exit status
MAY_FIND = ("mailferry check",)


def walkthrough() -> list[str]:
    """The command lines of the README's walkthrough, in order."""
    text = (REPO / "README.md").read_text()
    section = text.split("<!-- walkthrough -->", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    lines: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


@pytest.mark.timeout(1200)  # some twenty commands, each a process of its own
def test_the_readme_walkthrough_runs(
        tmp_path: Path, dovecot_factory: Callable[..., Dovecot], knot: KnotDns,
        rdap: RdapServer) -> None:
    lines = walkthrough()
    assert lines[0].startswith("mailferry init") and "mailferry sync" in lines
    env = {**os.environ, "COLUMNS": "100", "PATH": f"{BIN}:{os.environ['PATH']}"}
    cwd = tmp_path
    relay: subprocess.Popen[str] | None = None
    relay_port = free_port()
    servers: dict[str, Dovecot] = {}
    people: dict[str, list[DovecotUser]] = {}  # the sample users: old and new passwords
    sent: list[str] = []
    sink = SmtpSink().start()

    def send(subject: str, to: str = "carol") -> None:
        with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as smtp:
            smtp.sendmail("someone@elsewhere.example", [f"{to}@example.com"],
                          f"Subject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\nhi\r\n"
                          .encode())
        sent.append(subject)

    def stop_relay() -> None:
        if relay is not None and relay.poll() is None:
            relay.send_signal(signal.SIGINT)  # Ctrl-C
            _out, err = relay.communicate(timeout=60)
            assert relay.returncode == 0, err

    try:
        for line in lines:
            words = shlex.split(line)
            if words[0] == "sed":  # bob has moved, his mail still reaches the old system
                send("after-bobs-wave", to="bob")
                wait_for(lambda: any(b"after-bobs-wave" in m for m in
                                     folder(servers["source"], people["old"][1], "INBOX")),
                         "the relay did not deliver to the old system")
            if words[0] == "cd":
                cwd = cwd / words[1]
                continue
            if words[:2] == ["mailferry", "relay"] and len(words) == 2:  # runs until Ctrl-C
                stop_relay()
                relay = subprocess.Popen(words, cwd=cwd, env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                wait_for_port(relay_port, relay)
                if not sent:  # mail during the move: the delta pass will copy it
                    send("before-cutover")
                continue
            done = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=300)
            allowed = (0, 1) if line.startswith(MAY_FIND) else (0,)
            assert done.returncode in allowed, (line, done.stdout[-3000:], done.stderr)
            if words[:2] == ["mailferry", "init"]:
                old_users, new_users = sample_users(cwd / words[2])
                people.update(old=old_users, new=new_users)
                servers["source"] = dovecot_factory(users=old_users, lmtp=True)
                servers["target"] = dovecot_factory(users=new_users, lmtp=True)
                for n, user in enumerate(old_users):
                    conn = imap_login("127.0.0.1", servers["source"].port, user.name,
                                      user.password)
                    seed(conn, sample_mailbox(5, ["INBOX", "Projects"], seed=n))
                    conn.logout()
                # what the admin edits by hand: the servers' names
                point_at_test_bed(cwd / words[2], servers["source"], servers["target"],
                                  relay_port, sink, knot, rdap)
            if words[:3] == ["mailferry", "sync", "--wave"]:  # only the pilot has moved
                pilot = [u for u in new_users if folder(servers["target"], u, "INBOX")]
                assert len(pilot) == 2, [u.name for u in pilot]
        send("after-cutover")  # the relay now runs with the default route "new"
        wait_for(lambda: any(b"after-cutover" in m for m in
                             folder(servers["target"], sample_users(cwd)[1][2], "INBOX")),
                 "the relay did not deliver to the new system after the cutover")
        stop_relay()
    finally:
        if relay is not None and relay.poll() is None:
            relay.kill()
            relay.communicate()
        sink.stop()
    source, target = servers["source"], servers["target"]
    assert sample_users(cwd)[0][2].name == "carol"
    carol_old, carol_new = sample_users(cwd)[0][2], sample_users(cwd)[1][2]
    # before the cutover the relay delivered to the old system; the delta pass copied it
    assert any(b"before-cutover" in m for m in folder(source, carol_old, "INBOX"))
    assert any(b"before-cutover" in m for m in folder(target, carol_new, "INBOX"))
    # after it, to the new system only
    assert any(b"after-cutover" in m for m in folder(target, carol_new, "INBOX"))
    assert not any(b"after-cutover" in m for m in folder(source, carol_old, "INBOX"))
    # the delta pass copied what reached the old system after the user's wave
    bob = sample_users(cwd)[1][1]
    assert any(b"after-bobs-wave" in m for m in folder(target, bob, "INBOX"))
    for old, new in zip(*sample_users(cwd), strict=True):  # everyone's mail, every folder
        assert len(folder(target, new, "Projects")) == len(folder(source, old, "Projects"))
    assert (cwd / "runbook.md").exists() and (cwd / "report.html").exists()
    assert list((cwd / "final-backup").iterdir())
