"""Server facts from real servers: Dovecot (IMAP, IMAPS, STARTTLS) and aiosmtpd (SMTP)."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from mailferry.plan.probe import Login
from mailferry.plan.resolver import Resolver
from mailferry.plan.server_facts import endpoint_facts
from mailferry.urls import ServerURL
from testbed import Dovecot, free_port
from testbed import dovecot as dovecot_bed
from testbed.dns import KnotDns, zone_text


def clock() -> dt.datetime:
    return dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC)


def facts_of(url: str, resolver: Resolver | None = None, **kwargs: Any) -> dict[str, Any]:
    found = endpoint_facts(ServerURL.parse(url), "target", resolver, clock,
                           ca_file=str(dovecot_bed.shared_certs().ca_cert), timeout=5, **kwargs)
    return {f.name: f for f in found}


def test_imaps_with_a_trusted_certificate(dovecot_factory: Callable[..., Dovecot]) -> None:
    server = dovecot_factory(tls=True)
    facts = facts_of(f"imaps://127.0.0.1:{server.imaps_port}",
                     login=Login("alice", server.password()))
    assert facts["server.reachable"].value["reachable"] is True
    tls = facts["tls"].value
    assert tls["verified"] is True and tls["not_after"] > "2030"
    capabilities = facts["capabilities"].value
    assert capabilities["after_login"] is True
    assert {"UIDPLUS", "CONDSTORE", "SPECIAL-USE", "MOVE"} <= set(capabilities["list"])


def test_starttls_and_capabilities_before_login(dovecot_factory: Callable[..., Dovecot]) -> None:
    server = dovecot_factory(tls=True)
    facts = facts_of(f"imap://127.0.0.1:{server.port}")
    assert facts["tls"].value["verified"] is True and facts["tls"].value["mode"] == "starttls"
    assert facts["capabilities"].value["after_login"] is False


def test_self_signed_certificate_is_not_trusted(dovecot_factory: Callable[..., Dovecot]) -> None:
    server = dovecot_factory(tls=True, self_signed=True)
    facts = facts_of(f"imaps://127.0.0.1:{server.imaps_port}")
    assert facts["tls"].value["verified"] is False
    assert "self-signed" in facts["tls"].value["error"]
    assert not facts["capabilities"].known


def test_no_starttls_offered(dovecot_factory: Callable[..., Dovecot]) -> None:
    server = dovecot_factory(tls=False)
    facts = facts_of(f"imap://127.0.0.1:{server.port}", login=Login("alice", server.password()))
    assert facts["tls"].value == {"mode": "starttls", "verified": False, "not_after": None,
                                  "error": "the server does not offer STARTTLS"}
    assert facts["capabilities"].value["after_login"] is True  # cleartext only to loopback


def test_refused_connection_is_a_known_unreachable_fact() -> None:
    facts = facts_of(f"imaps://127.0.0.1:{free_port()}")
    assert facts["server.reachable"].known
    assert facts["server.reachable"].value["reachable"] is False
    assert "cannot connect" in facts["server.reachable"].value["error"]
    assert not facts["tls"].known


def test_host_name_resolved_by_the_private_nameserver(
        knot_factory: Callable[[dict[str, str]], KnotDns],
        dovecot_factory: Callable[..., Dovecot]) -> None:
    knot = knot_factory({"newmail.example": zone_text("newmail.example",
                                                      "imap IN A 127.0.0.1")})
    server = dovecot_factory()
    resolver = Resolver([("127.0.0.1", knot.port)], timeout=2)
    facts = facts_of(f"imap://imap.newmail.example:{server.port}", resolver)
    assert facts["server.reachable"].value["address"] == "127.0.0.1"
    missing = facts_of("imap://nowhere.newmail.example:143", resolver)
    assert not missing["server.reachable"].known


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[Callable[[bool], int]]:
    controllers: list[Controller] = []

    def start(starttls: bool) -> int:
        context = None
        if starttls:
            certs = dovecot_bed.shared_certs()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certs.server_cert, certs.server_key)
        controller = Controller(_Sink(), hostname="127.0.0.1", port=free_port(),
                                tls_context=context, require_starttls=False)
        controller.start()
        controllers.append(controller)
        return int(controller.port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.mark.parametrize(("starttls", "verified"), [(True, True), (False, False)])
def test_smtp_starttls(smtp_server: Callable[[bool], int], starttls: bool,
                       verified: bool) -> None:
    port = smtp_server(starttls)
    facts = facts_of(f"smtp://127.0.0.1:{port}")
    assert facts["tls"].value["verified"] is verified
    assert "8BITMIME" in facts["capabilities"].value["list"]
