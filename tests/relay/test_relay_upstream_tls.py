"""Upstream protocols: LMTP with STARTTLS (verified by default), SMTP, SMTPS, 4xx retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailferry.relay import load_state
from testbed import Dovecot
from testbed.dovecot import shared_certs
from testbed.relaykit import (
    USERS,
    RelayThread,
    count,
    fetch_all,
    load,
    message,
    relayed_part,
    send,
    wait_until,
    write_config,
)
from testbed.smtp_sink import SmtpSink


@pytest.fixture
def sinks() -> Iterator[Callable[..., SmtpSink]]:
    started: list[SmtpSink] = []

    def start(**kwargs: bool | int) -> SmtpSink:
        sink = SmtpSink(**kwargs).start()  # type: ignore[arg-type]
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


def _config(tmp_path: Path, old_url: str, new_url: str, extra: str = "") -> Path:
    path = write_config(tmp_path, old_url=old_url, new_url=new_url,
                        routes="alice@bank.example,both\n",
                        extra=f'ca_file = "{shared_certs().ca_cert}"\n' + extra)
    if extra.startswith("new = "):  # a table instead of the URL
        path.write_text("\n".join(line for line in path.read_text().splitlines()
                                  if line != 'new = "x"') + "\n")
    return path


def test_starttls_to_lmtp_and_smtp_upstreams_verified_against_the_ca(
    tmp_path: Path, dovecot_factory: Callable[..., Dovecot], sinks: Callable[..., SmtpSink],
    run_relay: Callable[..., RelayThread]
) -> None:
    old = dovecot_factory(lmtp=True, tls=True, users=USERS)
    new = sinks(tls=True)
    relay = run_relay(load(_config(tmp_path, f"lmtp://127.0.0.1:{old.lmtp_port}",
                                   f"smtp://127.0.0.1:{new.port}")))
    raw = message(1, tag="tls")
    send(relay.port, ["alice@bank.example"], raw, mail_from="ceo@outside.example")
    wait_until(lambda: count(old, "alice") == 1 and len(new.received) == 1)
    stored = fetch_all(old, "alice")[0]
    assert b"with LMTPS" in stored  # Dovecot's own trace: the delivery came over TLS
    assert relayed_part(stored) == raw
    got = new.received[0]
    assert got.tls and got.mail_from == "ceo@outside.example"
    assert got.rcpt_tos == ("alice@bank.example",)
    assert got.data.endswith(raw) and got.data.startswith(b"Received: from ")


def test_smtps_upstream_and_4xx_is_retried_until_accepted(
    tmp_path: Path, sinks: Callable[..., SmtpSink], run_relay: Callable[..., RelayThread]
) -> None:
    old = sinks(implicit_tls=True)
    new = sinks(defer_first=2)
    relay = run_relay(load(_config(tmp_path, f"smtps://127.0.0.1:{old.port}",
                                   f"smtp://127.0.0.1:{new.port}")))
    send(relay.port, ["alice@bank.example"], message(1))
    wait_until(lambda: len(old.received) == 1 and len(new.received) == 1)
    assert old.received[0].tls and not new.received[0].tls
    assert new.deferred == 2
    metrics = relay.stop()
    assert metrics.deferred == 2 and metrics.delivered == {"old": 1, "new": 1}


@pytest.mark.parametrize("verify", [True, False])
def test_untrusted_upstream_certificate_is_refused_unless_verification_is_off(
    tmp_path: Path, dovecot_factory: Callable[..., Dovecot],
    run_relay: Callable[..., RelayThread], verify: bool
) -> None:
    untrusted = dovecot_factory(lmtp=True, tls=True, self_signed=True, users=USERS)
    trusted = dovecot_factory(lmtp=True, users=USERS)
    relay = run_relay(load(_config(
        tmp_path, f"lmtp://127.0.0.1:{trusted.lmtp_port}",
        f"lmtp://127.0.0.1:{untrusted.lmtp_port}", f"tls_verify = {str(verify).lower()}\n")))
    send(relay.port, ["alice@bank.example"], message(1))
    wait_until(lambda: count(trusted, "alice") == 1)
    if verify:
        def left() -> list[tuple[str, str]]:
            return [(d.upstream, d.last_error) for m in load_state(tmp_path / "spool").values()
                    for d in m.deliveries.values()]

        # Dovecot stores the trusted copy a moment before the relay records it done: wait
        # until that record lands and the untrusted delivery has failed.
        wait_until(lambda: len(left()) == 1 and left()[0][1] != "")
        [(upstream, last_error)] = left()
        assert upstream == "new" and "CERTIFICATE_VERIFY_FAILED" in last_error
        assert count(untrusted, "alice") == 0
    else:
        wait_until(lambda: count(untrusted, "alice") == 1)


@pytest.mark.parametrize("which", ["wrong_name", "expired"])
def test_trusted_ca_but_wrong_name_or_expired_certificate_is_refused(
    tmp_path: Path, sinks: Callable[..., SmtpSink], run_relay: Callable[..., RelayThread],
    which: str
) -> None:
    """Signed by the CA the relay trusts, so only the name check or the dates can refuse
    it: the delivery is deferred, with the reason, and nothing reaches the upstream."""
    cert = shared_certs().pair(which.replace("_", "-"))
    good, doubtful = sinks(), sinks(tls=True, cert=cert)
    relay = run_relay(load(_config(tmp_path, f"smtp://127.0.0.1:{good.port}",
                                   f"smtp://127.0.0.1:{doubtful.port}")))
    send(relay.port, ["alice@bank.example"], message(1))
    wait_until(lambda: len(good.received) == 1 and _last_error(tmp_path) != "")
    assert doubtful.received == []
    reason = {"wrong_name": "address mismatch", "expired": "certificate has expired"}[which]
    assert "TLS failed" in _last_error(tmp_path) and reason in _last_error(tmp_path)
    metrics = relay.stop()
    assert metrics.delivered == {"old": 1}


def test_tls_required_upstream_without_starttls_gets_nothing_and_says_why(
    tmp_path: Path, sinks: Callable[..., SmtpSink], run_relay: Callable[..., RelayThread]
) -> None:
    """As when a man in the middle strips STARTTLS from the upstream's EHLO reply."""
    good, stripped = sinks(tls=True), sinks()
    relay = run_relay(load(_config(
        tmp_path, f"smtp://127.0.0.1:{good.port}", "x",
        f'new = {{ url = "smtp://127.0.0.1:{stripped.port}", tls = "required" }}\n')))
    send(relay.port, ["alice@bank.example"], message(1))
    wait_until(lambda: len(good.received) == 1 and _last_error(tmp_path) != "")
    assert stripped.received == []
    assert "TLS is required" in _last_error(tmp_path)
    relay.stop()
    # the same upstream with STARTTLS offered gets the message
    offering = sinks(tls=True)
    config = tmp_path / "migration.toml"
    config.write_text(config.read_text().replace(str(stripped.port), str(offering.port)))
    relay = run_relay(load(config))
    wait_until(lambda: len(offering.received) == 1)
    assert offering.received[0].tls
    relay.stop()


def _last_error(tmp_path: Path) -> str:
    return " ".join(d.last_error for m in load_state(tmp_path / "spool").values()
                    for d in m.deliveries.values() if d.last_error)
