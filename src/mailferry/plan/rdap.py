"""Domain facts from the registry by RDAP (RFC 9083 JSON over HTTP(S)).

The server is `[check] rdap_url` when given (then nothing else is asked: no bootstrap
download), otherwise the one the IANA bootstrap file (RFC 9224) names for the TLD.
RDAP writes EPP status codes in words ("client transfer prohibited", RFC 8056); they are
turned back into the EPP names registrars and ICANN use ("clientTransferProhibited").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from mailferry.plan.facts import Clock, Fact, FactRecorder

IANA_BOOTSTRAP = "https://data.iana.org/rdap/dns.json"
DOMAIN_FACTS = ("rdap.status", "rdap.registrar", "rdap.nameservers", "rdap.expires",
                "rdap.registered", "rdap.last_transfer", "rdap.last_changed")
_EVENTS = {"expiration": "rdap.expires", "registration": "rdap.registered",
           "transfer": "rdap.last_transfer", "last changed": "rdap.last_changed"}
_WORD_CODES = {"active": "ok"}  # RFC 8056 3.1: EPP "ok" is RDAP "active"


class RdapError(Exception):
    """The registry could not be asked or gave no usable answer."""


def epp_status(words: str) -> str:
    """'client transfer prohibited' -> 'clientTransferProhibited'."""
    words = words.strip().lower()
    if words in _WORD_CODES:
        return _WORD_CODES[words]
    first, *rest = words.split()
    return first + "".join(w.capitalize() for w in rest)


class RdapClient:
    def __init__(self, http: httpx.Client, base_url: str | None = None) -> None:
        self._http = http
        self._base_url = base_url
        self._bootstrap: dict[str, str] | None = None

    def server_for(self, domain: str) -> str:
        if self._base_url:
            return self._base_url
        tld = domain.rsplit(".", 1)[-1].lower()
        services = self._services()
        if tld not in services:
            raise RdapError(f"no RDAP server for .{tld} in the IANA bootstrap file")
        return services[tld]

    def _services(self) -> dict[str, str]:
        if self._bootstrap is None:
            data = self._get_json(IANA_BOOTSTRAP)
            table: dict[str, str] = {}
            for tlds, urls in data.get("services", []):
                url = next((u for u in urls if u.startswith("https://")), urls[0])
                table.update({tld.lower(): url if url.endswith("/") else url + "/"
                              for tld in tlds})
            self._bootstrap = table
        return self._bootstrap

    def domain(self, name: str) -> dict[str, Any]:
        return self._get_json(f"{self.server_for(name)}domain/{name}")

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/rdap+json"})
        except httpx.HTTPError as exc:
            raise RdapError(f"{url}: {exc or type(exc).__name__}") from exc
        if response.status_code == 404:
            raise RdapError(f"{url}: the registry does not know this domain (404)")
        if response.status_code != 200:
            raise RdapError(f"{url}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise RdapError(f"{url}: not JSON") from None
        if not isinstance(data, dict):
            raise RdapError(f"{url}: not an RDAP object")
        return data


def domain_facts(client: RdapClient, domain: str, clock: Clock) -> list[Fact]:
    try:
        source = "rdap " + client.server_for(domain)
        data = client.domain(domain)
    except RdapError as exc:
        rec = FactRecorder("rdap", clock)
        return [rec.unknown(name, domain, str(exc)) for name in DOMAIN_FACTS]
    rec = FactRecorder(source, clock)
    events = {_EVENTS[e["eventAction"]]: _date(e.get("eventDate"))
              for e in data.get("events", []) if e.get("eventAction") in _EVENTS}
    values: dict[str, Any] = {
        "rdap.status": sorted(epp_status(s) for s in data.get("status", [])),
        "rdap.registrar": _registrar(data),
        "rdap.nameservers": sorted(ns.get("ldhName", "").lower().rstrip(".")
                                   for ns in data.get("nameservers", [])),
        **{name: events.get(name) for name in _EVENTS.values()},
    }
    return [rec.ok(name, domain, values[name]) for name in DOMAIN_FACTS]


def _date(text: Any) -> str | None:
    """An RDAP event date as an ISO date-time in UTC, or None if missing or malformed."""
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text)  # 3.11 reads "Z"
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def _registrar(data: dict[str, Any]) -> str | None:
    for entity in data.get("entities", []):
        if "registrar" in entity.get("roles", []):
            for item in (entity.get("vcardArray") or [None, []])[1]:
                if item and item[0] == "fn":
                    return str(item[3])
            return str(entity.get("handle")) if entity.get("handle") else None
    return None
