"""A local RDAP server (RFC 9083 JSON over HTTP) shaped like real registries' answers:
Verisign-style objects with status words, registrar entity, nameservers and events.
It records every path asked, so tests can prove that nothing else was fetched."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def rdap_domain(name: str, *, status: list[str] | None = None,
                events: dict[str, str] | None = None, registrar: str = "Example Registrar, Inc.",
                nameservers: list[str] | None = None) -> dict[str, Any]:
    """A domain object as .com/.net registries return it (status in RFC 8056 words)."""
    events = events if events is not None else {
        "registration": "2009-03-11T09:27:04Z", "expiration": "2029-03-11T09:27:04Z",
        "last changed": "2025-02-08T07:53:13Z"}
    return {
        "objectClassName": "domain",
        "handle": "2336799_DOMAIN_COM-VRSN",
        "ldhName": name.upper(),
        "links": [{"value": f"https://rdap.verisign.com/com/v1/domain/{name.upper()}",
                   "rel": "self", "href": f"https://rdap.verisign.com/com/v1/domain/{name}",
                   "type": "application/rdap+json"}],
        "status": status if status is not None else [
            "client delete prohibited", "client transfer prohibited"],
        "entities": [{
            "objectClassName": "entity", "handle": "1068", "roles": ["registrar"],
            "publicIds": [{"type": "IANA Registrar ID", "identifier": "1068"}],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                     ["fn", {}, "text", registrar]]],
        }],
        "events": [{"eventAction": action, "eventDate": date} for action, date in events.items()]
        + [{"eventAction": "last update of RDAP database", "eventDate": "2026-11-22T10:00:00Z"}],
        "secureDNS": {"delegationSigned": False},
        "nameservers": [{"objectClassName": "nameserver", "ldhName": ns.upper()}
                        for ns in (nameservers or [f"ns1.{name}", f"ns2.{name}"])],
        "rdapConformance": ["rdap_level_0", "icann_rdap_technical_implementation_guide_0",
                            "icann_rdap_response_profile_0"],
        "notices": [{"title": "Terms of Use", "description": [
            "Service subject to Terms of Use."]}],
    }


@dataclass
class RdapServer:
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> domain object
    requests: list[str] = field(default_factory=list)
    status_override: int | None = None  # answer every request with this HTTP status
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> RdapServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                name = self.path.removeprefix("/domain/").lower()
                if owner.status_override is not None:
                    self._send(owner.status_override, {"errorCode": owner.status_override})
                elif self.path.startswith("/domain/") and name in owner.domains:
                    self._send(200, owner.domains[name])
                else:
                    self._send(404, {"errorCode": 404, "title": "Not Found",
                                     "rdapConformance": ["rdap_level_0"]})

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
