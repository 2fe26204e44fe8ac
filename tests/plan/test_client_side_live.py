"""The planner's client-side hazards against real DNS (Knot) and a real MTA-STS policy
server (HTTPS on 127.0.0.1 with a certificate for mta-sts.bank.example from the test CA):
discovery names (RFC 6186 SRV, autoconfig) still at the old provider, and a policy whose
mx lines leave out the new MX."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailferry.plan import Category, Severity, run_checks
from mailferry.project import load
from testbed.dns import KnotDns, zone_text
from testbed.dovecot import shared_certs
from testbed.net import free_port
from testbed.plankit import NOW, WORLD, example

BANK = """
@ 300 IN MX 10 mx1.oldmail.example.
mta-sts IN A 127.0.0.1
_mta-sts IN TXT "v=STSv1; id=20260101"
"""
OLD_DISCOVERY = """
_imaps._tcp IN SRV 0 1 993 imap.oldmail.example.
_submission._tcp IN SRV 0 1 587 smtp.oldmail.example.
autoconfig IN CNAME autoconfig.oldmail.example.
"""
NEW_DISCOVERY = """
_imaps._tcp IN SRV 0 1 993 imap.newmail.example.
_submission._tcp IN SRV 0 1 587 smtp.newmail.example.
autoconfig IN CNAME autoconfig.newmail.example.
"""
RULES = ("clients.discovery-old-provider", "mta-sts.new-mx-not-covered")


class PolicyServer:
    """HTTPS on 127.0.0.1 answering /.well-known/mta-sts.txt with `policy`."""

    def __init__(self, policy: str, cert: tuple[Path, Path]) -> None:
        self.policy = policy
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(f"{self.headers['Host']}{self.path}")
                found = self.path == "/.well-known/mta-sts.txt"
                body = owner.policy.encode() if found else b"not found"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PolicyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def policy_server(tmp_path: Path) -> Iterator[Callable[[str], PolicyServer]]:
    cert = shared_certs().issue("mta-sts.bank.example", tmp_path)
    started: list[PolicyServer] = []

    def start(policy: str) -> PolicyServer:
        server = PolicyServer(policy, cert).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


def check(knot: KnotDns, port: int, tmp_path: Path, now: dt.datetime) -> list[tuple[str, str,
                                                                                     Severity]]:
    path = tmp_path / "migration.toml"
    path.write_text(example(knot.nameserver, replace={
        'rdap_url = "http://127.0.0.1:8053/"':
            f'https_port = {port}\nca_file = "{shared_certs().ca_cert}"'}))
    report = run_checks(load(path).plan, {Category.DNS}, clock=lambda: NOW, now=now)
    assert "facts.unknown" not in {f.rule for f in report.findings}, report.findings
    return sorted((f.rule, f.subject, f.severity) for f in report.findings if f.rule in RULES)


def test_old_discovery_names_and_a_policy_without_the_new_mx_are_hazards(
        knot_factory: Callable[[dict[str, str]], KnotDns],
        policy_server: Callable[[str], PolicyServer], tmp_path: Path) -> None:
    knot = knot_factory({**WORLD, "bank.example": zone_text("bank.example",
                                                            BANK + OLD_DISCOVERY)})
    server = policy_server("version: STSv1\r\nmode: enforce\r\nmx: mx1.oldmail.example\r\n"
                           "max_age: 604800\r\n")
    before = check(knot, server.port, tmp_path, NOW)
    assert before == [
        ("clients.discovery-old-provider", "_imaps._tcp.bank.example", Severity.WARNING),
        ("clients.discovery-old-provider", "_submission._tcp.bank.example", Severity.WARNING),
        ("clients.discovery-old-provider", "autoconfig.bank.example", Severity.WARNING),
        ("mta-sts.new-mx-not-covered", "bank.example", Severity.ERROR)]
    assert server.requests == ["mta-sts.bank.example/.well-known/mta-sts.txt"]
    after_cutover = check(knot, server.port, tmp_path, NOW + dt.timedelta(days=30))
    assert {s for rule, _, s in after_cutover if rule == RULES[0]} == {Severity.ERROR}


def test_testing_mode_is_a_warning_and_a_fixed_setup_has_no_hazard(
        knot_factory: Callable[[dict[str, str]], KnotDns],
        policy_server: Callable[[str], PolicyServer], tmp_path: Path) -> None:
    knot = knot_factory({**WORLD, "bank.example": zone_text("bank.example",
                                                            BANK + OLD_DISCOVERY)})
    testing = policy_server("version: STSv1\nmode: testing\nmx: mx1.oldmail.example\n"
                            "max_age: 86400\n")
    assert ("mta-sts.new-mx-not-covered", "bank.example", Severity.WARNING) in check(
        knot, testing.port, tmp_path, NOW)
    fixed = knot_factory({**WORLD, "bank.example": zone_text("bank.example",
                                                             BANK + NEW_DISCOVERY)})
    covering = policy_server("version: STSv1\nmode: enforce\nmx: mx1.oldmail.example\n"
                             "mx: *.newmail.example\nmax_age: 86400\n")
    assert check(fixed, covering.port, tmp_path, NOW) == []


def test_a_policy_server_with_an_untrusted_certificate_is_an_unknown_fact(
        knot_factory: Callable[[dict[str, str]], KnotDns], tmp_path: Path) -> None:
    knot = knot_factory({**WORLD, "bank.example": zone_text("bank.example", BANK)})
    with PolicyServer("version: STSv1\nmode: enforce\nmx: x\n",
                      shared_certs().pair("wrong-name")) as server:
        path = tmp_path / "migration.toml"
        path.write_text(example(knot.nameserver, replace={
            'rdap_url = "http://127.0.0.1:8053/"':
                f'https_port = {server.port}\nca_file = "{shared_certs().ca_cert}"'}))
        report = run_checks(load(path).plan, {Category.DNS}, clock=lambda: NOW, now=NOW)
    fact = report.facts.get("mta_sts.policy", "bank.example")
    assert fact is not None and not fact.known and "certificate" in (fact.error or "")
    assert "facts.unknown" in {f.rule for f in report.findings}
