"""Retries are decided by the error's class, once: a wrong password costs one login (repeated
failed logins can lock an account at the old provider), and a lasting refusal is not
retried whatever hopeful words follow it (tests/engine/test_retry.py has the whole table)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from mailferry.engine import CopyOptions, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot, DovecotUser, imap_login, seed
from testbed.copykit import account, run_cli, write_project
from testbed.messages import sample_mailbox
from testbed.scripted_imap import Command, ScriptedImap

USERS = [DovecotUser("u1", "pw-u1"), DovecotUser("u2", "pw-u2")]


def _settled(count: Callable[[], int]) -> int:
    """The server logs a refusal just before it answers: give its log a moment."""
    time.sleep(0.5)
    return count()


def test_a_wrong_password_costs_one_login_per_user(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source, target = dovecot_factory(users=USERS), dovecot_factory(users=USERS)
    for user in USERS:
        conn = imap_login(source.host, source.port, user.name, user.password)
        seed(conn, sample_mailbox(5, ["INBOX"], seed=len(user.name)))
        conn.logout()
    project = write_project(tmp_path, source.port, target.port,
                            [("u1", "pw-u1", "pw-u1"), ("u2", "not-the-password", "pw-u2")],
                            extra="retries = 3\n")
    result = run_cli(["sync", str(project), "--json"])
    assert result.returncode == 1, (result.stdout, result.stderr)
    outcomes = json.loads(result.stdout)["mailboxes"]
    assert outcomes["u1"]["status"] == "synced"
    assert outcomes["u2"]["status"] == "failed" and "refused" in outcomes["u2"]["error"]
    assert _settled(lambda: source.refused_logins("u2")) == 1
    assert target.refused_logins("u2") == 0  # the source refused first: no other login


def test_a_lasting_refusal_is_not_retried_whatever_its_words(source: Dovecot,
                                                             tmp_path: Path) -> None:
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, sample_mailbox(3, ["INBOX"]))
    conn.logout()
    target = ScriptedImap()

    def full(command: Command) -> None:
        command.no("[OVERQUOTA] Mailbox is full: delete some mail and try again later")

    target.script("APPEND", full)
    store = StateStore.open(tmp_path / "s.db")
    try:
        with target:
            summary = MailboxCopy(imap_source(account(source)), _account(target), store,
                                  CopyOptions(retries=5, backoff=0.01)).run()
    finally:
        store.close()
    assert not summary.ok
    assert {f.kind for f in summary.failures} == {"rejected"} and len(summary.failures) == 3
    assert "OVERQUOTA" in summary.failures[0].reason
    appends = [name for _, name in target.commands if name == "APPEND"]
    # one MULTIAPPEND refused as a whole, then each message alone once: never again
    assert len(appends) == 1 + 3, target.commands


def _account(server: ScriptedImap) -> Account:
    return Account(parse_mailbox_url(server.url()), Credentials("alice", "alice-pw"), TlsPolicy())
