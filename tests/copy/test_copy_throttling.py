"""A server's "try again later" at login and in a folder: its suggested wait (Microsoft's
"Suggested Backoff Time: N milliseconds") is honoured, up to a cap; a refused login is one
attempt whatever hopeful words follow the refusal (repeated failed logins lock accounts).
Only lower bounds on the waits are asserted (the server's own clock): a slow machine cannot
make them fail."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.errors import AuthenticationFailed
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot
from testbed.copykit import account
from testbed.scripted_imap import Command, ScriptedImap

THROTTLED = "Request is throttled. Suggested Backoff Time: {ms} milliseconds"


def small(n: int) -> bytes:
    return b"Message-ID: <t%d@example.org>\r\nSubject: small %d\r\n\r\nbody\r\n" % (n, n)


def source_with_mail() -> ScriptedImap:
    server = ScriptedImap()
    for n in range(1, 4):
        server.folder("INBOX").add(small(n))
    return server


def refuse_first(server: ScriptedImap, names: list[str], answer: str,
                 times: int = 1) -> list[float]:
    """The first `times` of these commands are answered NO `answer`; the list holds the
    moment (server clock) each one arrived."""
    arrivals: list[float] = []

    def hook(command: Command) -> None:
        arrivals.append(time.monotonic())
        if len(arrivals) <= times:
            command.no(answer)
        else:
            command.default()

    for name in names:
        server.script(name, hook)
    return arrivals


def copy(server: ScriptedImap, target: Dovecot, tmp_path: Path, options: CopyOptions,
         ) -> CopySummary:
    source = Account(parse_mailbox_url(server.url()), Credentials("alice", "alice-pw"), TlsPolicy())
    store = StateStore.open(tmp_path / "s.db")
    result: list[CopySummary] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.append(MailboxCopy(imap_source(source), account(target), store,
                                      options).run())
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    try:
        with server:
            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            thread.join(300)
            assert not thread.is_alive(), "the copy was still waiting after 300 s"
    finally:
        store.close()
    if errors:
        raise errors[0]
    return result[0]


LOGIN = ["LOGIN", "AUTHENTICATE"]


def test_a_throttled_login_waits_as_long_as_the_server_asks(target: Dovecot,
                                                            tmp_path: Path) -> None:
    server = source_with_mail()
    logins = refuse_first(server, LOGIN, "[UNAVAILABLE] " + THROTTLED.format(ms=2000))
    summary = copy(server, target, tmp_path, CopyOptions(retries=3, backoff=0.01))
    assert summary.ok and summary.total("copied") == 3, summary.to_json()
    assert logins[1] - logins[0] >= 2.0, logins  # not the 0.01 s of our own backoff


def test_a_suggested_wait_is_honoured_up_to_the_cap(target: Dovecot, tmp_path: Path) -> None:
    server = source_with_mail()
    fetches = refuse_first(server, ["UID FETCH"], THROTTLED.format(ms=3_600_000))
    options = CopyOptions(retries=3, backoff=0.01, suggested_backoff_max=1.5)
    summary = copy(server, target, tmp_path, options)  # an hour asked: 1.5 s waited
    assert summary.ok and summary.total("copied") == 3, summary.to_json()
    assert fetches[1] - fetches[0] >= 1.5, fetches


@pytest.mark.parametrize("words", [
    "Login failed: too many attempts, try again later",
    "Authentication failed. Please try again",
    "[AUTHENTICATIONFAILED] Invalid credentials, try again later",
])
def test_a_refused_login_is_one_attempt_whatever_its_words(
        words: str, target: Dovecot, tmp_path: Path) -> None:
    server = source_with_mail()
    logins = refuse_first(server, LOGIN, words, times=99)
    with pytest.raises(AuthenticationFailed, match="refused"):
        copy(server, target, tmp_path, CopyOptions(retries=3, backoff=0.01))
    assert len(logins) == 1, logins


