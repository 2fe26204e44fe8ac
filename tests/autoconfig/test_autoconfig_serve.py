"""`mailferry autoconfig serve` as a real uvicorn process on 127.0.0.1, fetched with httpx:
each form parses and names the right hosts, ports and security; `mailferry autoconfig`
writes the same answers as files."""

from __future__ import annotations

import plistlib
import ssl
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed.dovecot import shared_certs
from testbed.net import free_port

MAILFERRY = Path(sys.executable).parent / "mailferry"
MOZ = "/mail/config-v1.1.xml"
R = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress>{address}</EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request></Autodiscover>"""


def write_project(directory: Path) -> Path:
    (directory / "users.csv").write_text(
        "source_user,target_user,department,wave,name\n"
        "ana@old.example,ana@bank.example,sales,pilot,Ana Lima\n"
        "jean@old.example,j.dupont@bank.example,support,pilot,<script>Jean</script>\n")
    toml = directory / "migration.toml"
    toml.write_text("""\
[migration]
name = "Bank of Examples"
domains = ["bank.example", "bank-group.example"]
timezone = "Europe/Paris"
cutover = 2026-12-12T20:00:00
[source]
imap = "imaps://imap.oldmail.example"
[target]
imap = "imaps://imap.newmail.example:993"
smtp = ["smtp://mx.newmail.example:25", "submission://smtp.newmail.example:587"]
[users]
file = "users.csv"
""")
    return toml


def wait_until_up(url: str, process: subprocess.Popen[bytes], **kwargs: object) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            httpx.get(url, timeout=5, **kwargs)  # type: ignore[arg-type]
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "autoconfig serve did not answer"
            time.sleep(0.1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([str(MAILFERRY), "autoconfig", "serve",
                                str(write_project(tmp_path)), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + MOZ, process)
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=60)


def servers(config: ET.Element) -> dict[str, dict[str, str | None]]:
    out = {}
    for tag in ("incomingServer", "outgoingServer"):
        server = config.find(f"emailProvider/{tag}")
        assert server is not None
        out[server.get("type") or ""] = {child.tag: child.text for child in server}
    return out


def test_mozilla_autoconfig_at_both_well_known_paths(served: str) -> None:
    for path in (MOZ, "/.well-known/autoconfig/mail/config-v1.1.xml"):
        answer = httpx.get(served + path, params={"emailaddress": "j.dupont@bank.example"})
        assert answer.status_code == 200
        config = ET.fromstring(answer.content)
        assert config.tag == "clientConfig" and config.get("version") == "1.1"
        assert [d.text for d in config.findall("emailProvider/domain")] == [
            "bank.example", "bank-group.example"]
        found = servers(config)
        assert found["imap"] == {"hostname": "imap.newmail.example", "port": "993",
                                 "socketType": "SSL", "username": "j.dupont@bank.example",
                                 "authentication": "password-cleartext"}
        # the submission port, not the MX's port 25
        assert (found["smtp"]["hostname"], found["smtp"]["port"], found["smtp"]["socketType"]) \
            == ("smtp.newmail.example", "587", "STARTTLS")
    generic = ET.fromstring(httpx.get(served + MOZ).content)
    assert servers(generic)["imap"]["username"] == "%EMAILADDRESS%"


def test_autodiscover_pox_answers_known_addresses_only(served: str) -> None:
    url = served + "/autodiscover/autodiscover.xml"
    answer = httpx.post(url, content=REQUEST.format(address="ana@bank.example"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/xml")
    account = ET.fromstring(answer.content).find(f"{R}Response/{R}Account")
    assert account is not None
    assert account.findtext(f"{R}Action") == "settings"
    protocols = {p.findtext(f"{R}Type"): p for p in account.findall(f"{R}Protocol")}
    imap, smtp = protocols["IMAP"], protocols["SMTP"]
    assert (imap.findtext(f"{R}Server"), imap.findtext(f"{R}Port"),
            imap.findtext(f"{R}Encryption"), imap.findtext(f"{R}LoginName")) == (
        "imap.newmail.example", "993", "SSL", "ana@bank.example")
    assert (smtp.findtext(f"{R}Server"), smtp.findtext(f"{R}Port"),
            smtp.findtext(f"{R}Encryption")) == ("smtp.newmail.example", "587", "TLS")
    assert httpx.post(url, content=REQUEST.format(address="nobody@bank.example")
                      ).status_code == 404
    assert httpx.post(url, content=b"<Autodiscover><Request>").status_code == 400
    evil = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'
    assert httpx.post(url, content=evil).status_code == 400
    assert httpx.post(url, content=b"x" * 20000).status_code == 413


def test_apple_profile_per_address_without_password(served: str) -> None:
    answer = httpx.get(served + "/mobileconfig/j.dupont@bank.example")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-apple-aspen-config"
    profile = plistlib.loads(answer.content)
    assert profile["PayloadType"] == "Configuration"
    (account,) = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed"
    assert account["EmailAddress"] == "j.dupont@bank.example"
    assert account["EmailAccountName"] == "<script>Jean</script>"  # a plist string, not markup
    assert (account["IncomingMailServerHostName"], account["IncomingMailServerPortNumber"],
            account["IncomingMailServerUseSSL"]) == ("imap.newmail.example", 993, True)
    assert (account["OutgoingMailServerHostName"], account["OutgoingMailServerPortNumber"]) \
        == ("smtp.newmail.example", 587)
    assert not [k for k in account if "Password" in k and k !=
                "OutgoingPasswordSameAsIncomingPassword"]
    again = plistlib.loads(httpx.get(served + "/mobileconfig/j.dupont@bank.example").content)
    assert again["PayloadUUID"] == profile["PayloadUUID"]  # installing twice replaces it
    assert httpx.get(served + "/mobileconfig/nobody@bank.example").status_code == 404


def test_https_with_the_given_certificate(tmp_path: Path) -> None:
    certs = shared_certs()
    port = free_port()
    process = subprocess.Popen([str(MAILFERRY), "autoconfig", "serve",
                                str(write_project(tmp_path)), "--port", str(port),
                                "--certfile", str(certs.server_cert),
                                "--keyfile", str(certs.server_key)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"https://127.0.0.1:{port}{MOZ}"
        trust = ssl.create_default_context(cafile=str(certs.ca_cert))
        wait_until_up(url, process, verify=trust)
        answer = httpx.get(url, verify=trust)
        assert answer.status_code == 200
        assert servers(ET.fromstring(answer.content))["imap"]["hostname"] == \
            "imap.newmail.example"
    finally:
        process.terminate()
        process.communicate(timeout=60)


def test_files_written_are_the_answers_served(tmp_path: Path, served: str) -> None:
    out = tmp_path / "out"
    done = subprocess.run([str(MAILFERRY), "autoconfig", "--project",
                           str(tmp_path / "migration.toml"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "mail/config-v1.1.xml").read_bytes() == httpx.get(served + MOZ).content
    assert (out / ".well-known/autoconfig/mail/config-v1.1.xml").is_file()
    served_profile = httpx.get(served + "/mobileconfig/ana@bank.example").content
    assert (out / "mobileconfig/ana@bank.example.mobileconfig").read_bytes() == served_profile
    served_pox = httpx.post(served + "/autodiscover/autodiscover.xml",
                            content=REQUEST.format(address="ana@bank.example")).content
    assert (out / "autodiscover/ana@bank.example.xml").read_bytes() == served_pox
