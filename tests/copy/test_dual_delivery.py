"""Dual delivery end to end: mail that arrived through the relay in both mailboxes is not
copied again. Six users with history on the old server; the real relay (`mailferry relay`,
a process) delivers to two real Dovecot LMTPs with route `both`, and each Dovecot prepends
its own Return-Path, Delivered-To and Received; `mailferry sync` runs the pilot wave and
then everyone while mail flows; the routes switch to `new`; after the relay's queue is empty,
a delta pass. Then every message is in the new mailbox exactly once: counted by the relay's
own id (in the Received line it adds), and the history byte for byte."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import smtplib
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import (
    MAILFERRY,
    Dovecot,
    DovecotUser,
    copykit,
    free_port,
    imap_login,
    list_folders,
    read_folder,
    seed,
)
from testbed.messages import sample_mailbox
from testbed.net import wait_for_port

USERS = [DovecotUser(f"u{n}", f"pw-u{n}") for n in range(1, 7)]
PILOT = ("u1", "u2")
RELAY_ID = re.compile(rb"by relay\.bank\.example \(mailferry\) with \S+ id (\S+)")
TOKEN = re.compile(rb"^X-Test-Token: (\S+)", re.M)


def write_project(root: Path, old: Dovecot, new: Dovecot, relay_port: int) -> Path:
    """Old server as the source, new as the target, and the relay between the outside and
    both (their LMTP ports)."""
    project = copykit.write_project(
        root, old.port, new.port, [(u.name, u.password, u.password) for u in USERS],
        waves={u.name: "pilot" if u.name in PILOT else "main" for u in USERS},
        head='[migration]\nname = "bank"\ndomains = ["bank.example"]\ntimezone = "UTC"\n'
             'cutover = 2026-12-12T20:00:00\n\n',
        extra=f"""
[relay]
listen = "127.0.0.1:{relay_port}"
spool = "./spool"
domains = ["bank.example"]
old = "lmtp://127.0.0.1:{old.lmtp_port}"
new = "lmtp://127.0.0.1:{new.lmtp_port}"
default_route = "old"
hostname = "relay.bank.example"
routes = "routes.csv"
retry_initial = 0.2
retry_max = 1
""")
    set_routes(root, "both")
    return project


def set_routes(root: Path, route: str) -> None:
    (root / "routes.csv").write_text("address,route\n" + "".join(
        f"{u.name}@bank.example,{route}\n" for u in USERS))


def mailferry(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, cwd=root,
                          timeout=300, stdin=subprocess.DEVNULL)


class MailFlow:
    """Sends mail through the relay until stopped; keeps the token of every message it
    accepted, per user. Some messages have no Message-ID (cron jobs, scanners)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted: dict[str, list[str]] = {u.name: [] for u in USERS}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        rng = random.Random(10)
        n = 0
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
                while not self.stop.is_set():
                    user = USERS[n % len(USERS)].name
                    token = f"t{n}"
                    mid = f"Message-ID: <{token}@outside.example>\r\n" if n % 5 else ""
                    raw = (f"From: Sender <s{n % 7}@outside.example>\r\n"
                           f"To: {user}@bank.example\r\nSubject: note {n}\r\n{mid}"
                           f"X-Test-Token: {token}\r\n\r\n").encode() + b"".join(
                        b"line %d of note %d\r\n" % (i, n) for i in range(rng.randint(5, 200)))
                    client.sendmail(f"s{n % 7}@outside.example", [f"{user}@bank.example"], raw)
                    self.accepted[user].append(token)
                    n += 1
                    self.stop.wait(0.02)
        except BaseException as exc:  # handed to the test
            self.error = exc

    def total(self) -> int:
        return sum(len(t) for t in self.accepted.values())


def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def mailbox_bodies(server: Dovecot, user: DovecotUser) -> dict[str, list[bytes]]:
    conn = imap_login(server.host, server.port, user.name, user.password)
    try:
        return {folder: [m.body for m in read_folder(conn, folder)]
                for folder in list_folders(conn)}
    finally:
        conn.logout()


@pytest.mark.slow
def test_mail_delivered_to_both_servers_ends_up_once_in_the_new_mailbox(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    old = dovecot_factory(lmtp=True, users=USERS)
    new = dovecot_factory(lmtp=True, users=USERS)
    for number, user in enumerate(USERS):
        conn = imap_login(old.host, old.port, user.name, user.password)
        seed(conn, sample_mailbox(12, ["INBOX", "Sent", "Archive"], seed=number))
        conn.logout()
    relay_port = free_port()
    project = write_project(tmp_path, old, new, relay_port)
    with open(tmp_path / "relay.log", "ab") as log:  # the relay keeps its own descriptor
        relay = subprocess.Popen([*MAILFERRY, "relay", str(project)], cwd=tmp_path,
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    flow = MailFlow(relay_port)
    try:
        wait_for_port("127.0.0.1", relay_port, timeout=30)
        flow.thread.start()
        wait_until(lambda: flow.total() >= 30)
        for args in (["--wave", "pilot"], []):  # the pilot wave, then everyone
            result = mailferry(tmp_path, "sync", str(project), "--json", *args)
            assert result.returncode == 0, (result.stdout, result.stderr)
        set_routes(tmp_path, "new")  # the cutover: new mail goes to the new server only
        relay.send_signal(signal.SIGHUP)
        wait_until(lambda: b"routes reloaded" in (tmp_path / "relay.log").read_bytes())
        sent = flow.total()
        wait_until(lambda: flow.total() >= sent + 30)
        flow.stop.set()
        flow.thread.join(30)
        assert flow.error is None, flow.error
        wait_until(lambda: json.loads(mailferry(tmp_path, "relay", "queue", "--json")
                                      .stdout or "null") == [])
    finally:
        flow.stop.set()
        relay.send_signal(signal.SIGTERM)
        try:
            relay.wait(30)
        except subprocess.TimeoutExpired:
            relay.kill()
    delta = mailferry(tmp_path, "sync", str(project), "--json")
    assert delta.returncode == 0, (delta.stdout, delta.stderr)

    for user in USERS:
        before = mailbox_bodies(old, user)
        after = mailbox_bodies(new, user)
        relayed = [body for body in after["INBOX"] if TOKEN.search(body)]
        ids = Counter(match.group(1) for body in relayed
                      for match in [RELAY_ID.search(body)] if match)
        assert len(ids) == len(relayed) and all(n == 1 for n in ids.values()), (
            user.name, [i for i, n in ids.items() if n > 1])
        tokens = Counter(m.group(1).decode() for body in relayed
                         for m in [TOKEN.search(body)] if m)
        assert tokens == Counter(flow.accepted[user.name]), user.name
        for folder, bodies in before.items():  # the history: byte for byte, once
            history = Counter(b for b in bodies if not TOKEN.search(b))
            assert Counter(b for b in after[folder] if not TOKEN.search(b)) == history, (
                user.name, folder)

    # verify: a message delivered to both is one message (noted), not missing + extra; what
    # arrived after the cutover is in the new mailbox only, so it is the only "extra"
    u1 = USERS[0]
    tokens_in = {side: {m.group(1) for body in mailbox_bodies(server, u1)["INBOX"]
                        for m in [TOKEN.search(body)] if m} for side, server in (("old", old),
                                                                               ("new", new))}
    checked = subprocess.run(
        [*MAILFERRY, "verify", old.url("u1"), new.url("u1"), "--json"], capture_output=True,
        text=True, timeout=120, env={**os.environ, "MAILFERRY_SOURCE_PASSWORD": u1.password,
                                     "MAILFERRY_TARGET_PASSWORD": u1.password})
    report = json.loads(checked.stdout)
    assert {d["kind"] for d in report["differences"]} <= {"extra"}, report["differences"]
    assert report["totals"]["extra"] == len(tokens_in["new"] - tokens_in["old"])
    assert report["totals"]["delivered_twice"] == len(tokens_in["new"] & tokens_in["old"]) > 0
