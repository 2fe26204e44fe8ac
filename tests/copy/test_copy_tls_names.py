"""A certificate from a CA we trust is not enough: it must name the host we asked for and be
valid today. A server presenting the trusted test CA's certificate for another name, or
its expired one, is refused by `copy` (exit 2, the reason named), on either side, before
anything is written; the same servers with a good certificate copy fine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.copykit import mailbox, run_cli
from testbed.dovecot import shared_certs

REASONS = {"wrong-name": "mismatch", "expired": "certificate has expired"}


@pytest.mark.parametrize("scheme", ["imaps", "imap"])  # implicit TLS, STARTTLS
@pytest.mark.parametrize("kind", ["wrong-name", "expired"])
def test_a_trusted_ca_certificate_for_the_wrong_name_or_expired_is_refused(
        kind: str, scheme: str, dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    good = dovecot_factory(tls=True)
    bad = dovecot_factory(tls=True, certificate=kind)
    for server in (good, bad):
        conn = imap_login(server.host, server.port, "alice", server.password())
        seed(conn, [SeedMessage(b"Subject: tls\r\nMessage-ID: <tls@x>\r\n\r\nhello\r\n")])
        conn.logout()
    before = mailbox(bad), mailbox(good)
    ca = str(shared_certs().ca_cert)
    state = tmp_path / "state.db"
    for source, target in ((good, bad), (bad, good)):
        done = run_cli(["copy", source.url(scheme=scheme), target.url(scheme=scheme),
                        "--state", str(state), "--ca-file", ca], source=source, target=target)
        assert done.returncode == 2, done.stderr
        assert "certificate not trusted" in done.stderr and REASONS[kind] in done.stderr
        port = bad.imaps_port if scheme == "imaps" else bad.port
        assert f":{port}" in done.stderr  # which server it was
        assert not state.exists()
    if kind == "wrong-name":  # asked by name rather than by address: the same refusal
        port = bad.imaps_port if scheme == "imaps" else bad.port
        done = run_cli(["copy", good.url(scheme=scheme), f"{scheme}://alice@localhost:{port}",
                        "--state", str(state), "--ca-file", ca], source=good, target=bad)
        assert done.returncode == 2 and "Hostname mismatch" in done.stderr, done.stderr
    assert (mailbox(bad), mailbox(good)) == before

    # the control: the same copy between two servers with good certificates goes through
    other = dovecot_factory(tls=True)
    done = run_cli(["copy", good.url(scheme=scheme), other.url(scheme=scheme), "--state",
                    str(state), "--ca-file", ca], source=good, target=other)
    assert done.returncode == 0, done.stderr
    assert mailbox(other)["INBOX"] == mailbox(good)["INBOX"]
