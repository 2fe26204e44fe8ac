"""Server facts: every IMAP/SMTP endpoint of both providers, probed for reachability,
TLS certificate and capabilities. With private nameservers the host name is resolved
through them too, so a check never asks the system resolver about the migrated setup."""

from __future__ import annotations

import ipaddress

from mailferry.errors import ConfigError
from mailferry.plan.facts import Clock, Fact, FactRecorder
from mailferry.plan.probe import Login, ProbeResult, probe
from mailferry.plan.resolver import Resolver
from mailferry.project import REFERENCE_KINDS, Migration, ProviderSettings, resolve_secret
from mailferry.urls import ServerURL

SERVER_FACTS = ("server.reachable", "tls", "capabilities")


def server_facts(migration: Migration, resolver: Resolver | None, clock: Clock) -> list[Fact]:
    """`resolver` is used for host names when private nameservers are configured."""
    facts: list[Fact] = []
    for side, account in (("source", migration.source), ("target", migration.target)):
        for endpoint in account.endpoints:
            facts += endpoint_facts(endpoint, side, resolver, clock,
                                    ca_file=migration.check.ca_file,
                                    timeout=migration.check.timeout, login=_login(account))
    return facts


def _login(account: ProviderSettings) -> Login | None:
    if not (account.master_user and account.master_password):
        return None
    password = account.master_password
    if password.startswith(REFERENCE_KINDS):  # env:NAME / file:PATH, not the secret
        try:
            password = resolve_secret(password, where="[master_password]")
        except ConfigError:
            return None  # the probe then reports capabilities before login only
    return Login(account.master_user, password)


def endpoint_facts(endpoint: ServerURL, side: str, resolver: Resolver | None, clock: Clock, *,
                   ca_file: str | None = None, timeout: float = 5.0,
                   login: Login | None = None) -> list[Fact]:
    rec = FactRecorder(f"probe {endpoint.label}", clock)
    subject = endpoint.label
    address, error = _resolve(endpoint.host, resolver)
    if address is None:
        return [rec.unknown(name, subject, error or "no address") for name in SERVER_FACTS]
    result = probe(endpoint, address, ca_file=ca_file, timeout=timeout, login=login)
    facts = [rec.ok("server.reachable", subject, {
        "side": side, "protocol": endpoint.protocol, "address": address,
        "reachable": result.reachable, "error": result.error})]
    if not result.reachable:
        return facts + [rec.unknown(name, subject, "not reachable") for name in SERVER_FACTS[1:]]
    facts.append(_tls_fact(rec, subject, endpoint, result))
    if result.capabilities is None:
        facts.append(rec.unknown("capabilities", subject, result.error or result.tls_error
                                 or "not read"))
    else:
        facts.append(rec.ok("capabilities", subject, {
            "protocol": endpoint.protocol, "list": result.capabilities,
            "after_login": result.after_login, "login_error": result.login_error}))
    return facts


def _tls_fact(rec: FactRecorder, subject: str, endpoint: ServerURL, result: ProbeResult) -> Fact:
    if result.tls_verified is None and result.error:
        return rec.unknown("tls", subject, result.error)
    return rec.ok("tls", subject, {
        "mode": endpoint.tls, "verified": bool(result.tls_verified), "error": result.tls_error,
        "not_after": result.not_after.isoformat() if result.not_after else None})


def _resolve(host: str, resolver: Resolver | None) -> tuple[str | None, str | None]:
    try:
        return str(ipaddress.ip_address(host)), None
    except ValueError:
        pass
    if resolver is None:
        return host, None  # the socket resolves it with the system's resolver
    for rdtype in ("A", "AAAA"):
        lookup = resolver.lookup(host, rdtype)
        if lookup.error:
            return None, lookup.error
        if lookup.records:
            return lookup.records[0], None
    return None, f"{host} has no address"
