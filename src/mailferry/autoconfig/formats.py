"""The three ways mail clients learn their settings, from the project's [target]:

- Mozilla autoconfig `config-v1.1.xml` (Thunderbird, K-9/Thunderbird for Android, Evolution,
  and Outlook's fallback): https://wiki.mozilla.org/Thunderbird:Autoconfiguration
- Microsoft Autodiscover "POX" (plain old XML): Outlook POSTs a request naming the address
  and gets an `Account` with one `Protocol` per server (responseschema/2006a);
- an Apple configuration profile (`.mobileconfig`, a property list) with one
  `com.apple.mail.managed` payload per user, for iPhone, iPad and macOS Mail.
None of them ever carries a password: clients ask the user for it.
"""

from __future__ import annotations

import plistlib
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from mailferry.project import Migration
from mailferry.urls import ServerURL

RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
MAX_REQUEST = 16 * 1024  # an Autodiscover request is a few hundred bytes


@dataclass(frozen=True)
class ClientSettings:
    organisation: str
    domains: tuple[str, ...]
    imap: ServerURL
    smtp: ServerURL | None  # the submission server, if [target] smtp names one

    @classmethod
    def of(cls, migration: Migration) -> ClientSettings:
        submission = [e for e in migration.target.smtp if e.port != 25]
        candidates = submission or list(migration.target.smtp)
        return cls(migration.name, migration.domains, migration.target.imap[0],
                   candidates[0] if candidates else None)


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _sub(parent: ET.Element, tag: str, text: str | int | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def mozilla_config(settings: ClientSettings, login: str = "%EMAILADDRESS%") -> bytes:
    """config-v1.1.xml; `login` is the user name (default: the address typed in)."""
    root = ET.Element("clientConfig", version="1.1")
    provider = _sub(root, "emailProvider")
    provider.set("id", settings.domains[0])
    for domain in settings.domains:
        _sub(provider, "domain", domain)
    _sub(provider, "displayName", settings.organisation)
    _sub(provider, "displayShortName", settings.organisation)
    servers = [("incomingServer", "imap", settings.imap)]
    if settings.smtp is not None:
        servers.append(("outgoingServer", "smtp", settings.smtp))
    for tag, kind, endpoint in servers:
        server = _sub(provider, tag)
        server.set("type", kind)
        _sub(server, "hostname", endpoint.host)
        _sub(server, "port", endpoint.port)
        _sub(server, "socketType", "SSL" if endpoint.tls == "implicit" else "STARTTLS")
        _sub(server, "username", login)
        _sub(server, "authentication", "password-cleartext")
    return _xml(root)


def parse_autodiscover_request(body: bytes) -> str:
    """The EMailAddress of an Outlook Autodiscover POST; ValueError if it is not one.
    No DTDs: entity tricks have no place in a request this small."""
    if len(body) > MAX_REQUEST or b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ValueError("not an Autodiscover request")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"malformed XML: {exc}") from None
    found = root.find(f"{{{REQUEST_NS}}}Request/{{{REQUEST_NS}}}EMailAddress")
    if found is None:
        found = root.find("Request/EMailAddress")  # clients that leave out the namespace
    address = (found.text or "").strip() if found is not None else ""
    if address.count("@") != 1 or any(c.isspace() for c in address):
        raise ValueError("no EMailAddress in the request")
    return address


def autodiscover_response(settings: ClientSettings, login: str) -> bytes:
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    response = _sub(root, "Response")
    response.set("xmlns", OUTLOOK_NS)
    account = _sub(response, "Account")
    _sub(account, "AccountType", "email")
    _sub(account, "Action", "settings")
    servers = [("IMAP", settings.imap)]
    if settings.smtp is not None:
        servers.append(("SMTP", settings.smtp))
    for kind, endpoint in servers:
        protocol = _sub(account, "Protocol")
        _sub(protocol, "Type", kind)
        _sub(protocol, "Server", endpoint.host)
        _sub(protocol, "Port", endpoint.port)
        _sub(protocol, "DomainRequired", "off")
        _sub(protocol, "LoginName", login)
        _sub(protocol, "SPA", "off")
        _sub(protocol, "SSL", "on")
        _sub(protocol, "Encryption", "SSL" if endpoint.tls == "implicit" else "TLS")
        _sub(protocol, "AuthRequired", "on")
        if kind == "SMTP":
            _sub(protocol, "UsePOPAuth", "on")  # the same login as for IMAP
            _sub(protocol, "SMTPLast", "off")
    return _xml(root)


def mobileconfig(settings: ClientSettings, address: str, login: str, name: str) -> bytes:
    """An unsigned configuration profile with the user's mail account (no password)."""
    def uid(kind: str) -> str:  # the same profile twice has the same ids: it replaces itself
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailferry:{kind}:{address}")).upper()

    reverse = ".".join(reversed(settings.domains[0].split(".")))
    account: dict[str, object] = {
        "PayloadType": "com.apple.mail.managed", "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.mailferry.mail.{uid('account')}",
        "PayloadUUID": uid("account"), "PayloadDisplayName": f"{settings.organisation} mail",
        "EmailAccountDescription": f"{settings.organisation} ({address})",
        "EmailAccountName": name, "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerHostName": settings.imap.host,
        "IncomingMailServerPortNumber": settings.imap.port,
        "IncomingMailServerUseSSL": True, "IncomingMailServerUsername": login,
    }
    if settings.smtp is not None:
        account.update({
            "OutgoingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingMailServerHostName": settings.smtp.host,
            "OutgoingMailServerPortNumber": settings.smtp.port,
            "OutgoingMailServerUseSSL": True, "OutgoingMailServerUsername": login,
            "OutgoingPasswordSameAsIncomingPassword": True,
        })
    profile = {
        "PayloadType": "Configuration", "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.mailferry.{uid('profile')}",
        "PayloadUUID": uid("profile"), "PayloadDisplayName": f"{settings.organisation} mail",
        "PayloadOrganization": settings.organisation,
        "PayloadDescription": f"Mail settings for {address}",
        "PayloadContent": [account],
    }
    return plistlib.dumps(profile)
