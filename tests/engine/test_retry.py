"""The one retry policy, by table: what a server's refusal becomes, whether its class is
retried, and how long to wait (a server's own suggestion honoured up to a cap)."""

from __future__ import annotations

import threading

import pytest

from mailferry.engine import RetryPolicy
from mailferry.errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    CertificateError,
    CommandFailed,
    CommandTimeout,
    ConfigError,
    ConnectError,
    ConnectionLost,
    IncompleteAnswer,
    InsecureConnection,
    MailferryError,
    ProtocolError,
    StateError,
    TryAgainLater,
)
from mailferry.imap import refusal


@pytest.mark.parametrize(("text", "kind", "delay"), [
    (b"[UNAVAILABLE] Server busy, try again later", TryAgainLater, None),
    (b"[INUSE] Mailbox in use", TryAgainLater, None),
    (b"Request is throttled. Suggested Backoff Time: 92415 milliseconds", TryAgainLater, 92.415),
    (b"Too many simultaneous connections", TryAgainLater, None),
    (b"[OVERQUOTA] Mailbox is full: delete some mail and try again later", CommandFailed, None),
    (b"[AUTHENTICATIONFAILED] Authentication failed, try again", CommandFailed, None),
    (b"[AUTHORIZATIONFAILED] Not allowed to act as bob", AuthorizationFailed, None),
    (b"[TRYCREATE] No such mailbox", CommandFailed, None),
    (b"Message too large", CommandFailed, None),
])
def test_what_a_refusal_becomes(text: bytes, kind: type[CommandFailed],
                                delay: float | None) -> None:
    error = refusal("APPEND", b"NO", text, server="imap://a@b:143")
    assert type(error) is kind
    assert getattr(error, "delay", None) == delay
    assert error.text == text.decode()


@pytest.mark.parametrize(("error", "retried"), [
    (ConnectError("cannot connect: Connection refused"), True),
    (ConnectionLost("connection lost"), True),
    (CommandTimeout("no complete answer within 300s"), True),
    (IncompleteAnswer("UID 3 not returned"), True),
    (TryAgainLater("busy"), True),
    (AuthenticationFailed("login refused"), False),
    (AuthorizationFailed("not allowed"), False),
    (CertificateError("TLS certificate not trusted"), False),
    (InsecureConnection("no STARTTLS"), False),
    (ConfigError("bad URL"), False),
    (StateError("unusable"), False),
    (ProtocolError("unparsable"), False),
    (CommandFailed("NO refused"), False),
    (ValueError("a bug"), False),
])
def test_retried_by_class_alone(error: Exception, retried: bool) -> None:
    assert RetryPolicy.retryable(error) is retried


def test_delays_back_off_and_honour_a_suggestion_up_to_a_cap() -> None:
    policy = RetryPolicy(retries=9, backoff=0.5, backoff_max=4.0, suggested_max=60.0)
    assert [policy.delay(n, ConnectionLost("x")) for n in range(5)] == [0.5, 1, 2, 4, 4]
    assert policy.delay(0, TryAgainLater("x", delay=12.5)) == 12.5
    assert policy.delay(3, TryAgainLater("x", delay=3600.0)) == 60.0
    assert policy.delay(2, TryAgainLater("x")) == 2


def test_run_retries_what_is_retryable_and_nothing_else() -> None:
    policy = RetryPolicy(retries=3, backoff=0.0)
    calls: list[str] = []

    def flaky() -> str:
        calls.append("try")
        if calls.count("try") < 3:
            raise ConnectionLost("dropped")
        return "done"

    assert policy.run(flaky, what="test", before_retry=lambda: calls.append("drop")) == "done"
    assert calls == ["try", "drop", "try", "drop", "try"]

    refused: list[int] = []

    def wrong_password() -> None:
        refused.append(1)
        raise AuthenticationFailed("login refused")

    with pytest.raises(AuthenticationFailed):
        policy.run(wrong_password, what="test")
    assert refused == [1]

    always: list[int] = []

    def down() -> None:
        always.append(1)
        raise ConnectError("refused")

    with pytest.raises(ConnectError):
        policy.run(down, what="test")
    assert len(always) == 4  # the first attempt and three retries


def test_a_stop_during_the_wait_ends_the_retries() -> None:
    stop = threading.Event()
    stop.set()
    attempts: list[int] = []

    def dropped() -> None:
        attempts.append(1)
        raise ConnectionLost("dropped")

    with pytest.raises(MailferryError):
        RetryPolicy(retries=5, backoff=10.0).run(dropped, what="test", stop=stop)
    assert attempts == [1]
