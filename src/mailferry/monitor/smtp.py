"""Sending mail for the monitor, two ways (stdlib smtplib):

- `deliver_to_mx`: as the outside world does it: the domain's MX from the configured
  resolvers, lowest preference first, each address in turn, STARTTLS when offered without
  checking the certificate (as MTAs without DANE or MTA-STS do; a probe carries no secret);
- `submit`: to a submission server with a login (alerts, the deliverability sender): TLS
  verified, and no password in clear text except to loopback (DESIGN invariant 6).

Both return what happened as data or raise `SendFailed` with the server's words.
"""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from mailferry.plan import Resolver
from mailferry.project import SmtpLogin, resolve_secret

HELO_NAME = "mailferry-monitor.invalid"


class SendFailed(Exception):
    """The message was not accepted: the reason names the server and its words."""


@dataclass
class Delivery:
    mx: str  # the MX host name
    address: str  # the address it was sent to
    port: int
    tls: bool
    tried: list[str] = field(default_factory=list)  # what failed before, per address


def mx_addresses(resolver: Resolver, domain: str) -> list[tuple[str, str]]:
    """(MX host, address) in the order a sender tries them; SendFailed if DNS says none."""
    answer = resolver.lookup(domain, "MX")
    if answer.error:
        raise SendFailed(f"MX of {domain}: {answer.error}")
    records = sorted((int(r.split()[0]), r.split()[1].rstrip(".").lower())
                     for r in answer.records if len(r.split()) == 2)
    hosts = [host for _, host in records if host] or [domain]  # RFC 5321 5.1: implicit MX
    pairs: list[tuple[str, str]] = []
    for host in hosts:
        for rdtype in ("A", "AAAA"):
            found = resolver.lookup(host, rdtype)
            pairs += [(host, address) for address in found.records]
    if not pairs:
        raise SendFailed(f"no address for the MX of {domain} ({', '.join(hosts)})")
    return pairs


def deliver_to_mx(resolver: Resolver, domain: str, port: int, *, mail_from: str,
                  rcpt: str, message: bytes, timeout: float = 30.0) -> Delivery:
    tried: list[str] = []
    for host, address in mx_addresses(resolver, domain):
        try:
            with smtplib.SMTP(address, port, local_hostname=HELO_NAME, timeout=timeout) as smtp:
                smtp.ehlo()
                tls = smtp.has_extn("starttls")
                if tls:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                    smtp.starttls(context=context)
                    smtp.ehlo()
                smtp.sendmail(mail_from, [rcpt], message)
                return Delivery(host, address, port, tls, tried)
        except smtplib.SMTPResponseException as exc:
            words = _words(exc.smtp_error)
            if 500 <= exc.smtp_code < 600:  # refused for good: no other MX will do better
                raise SendFailed(f"{host} [{address}]:{port} refused: {exc.smtp_code} "
                                 f"{words}") from None
            tried.append(f"{host} [{address}]:{port}: {exc.smtp_code} {words}")
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise SendFailed(f"{host} [{address}]:{port} refused {rcpt}: {code} "
                             f"{text.decode('utf-8', 'replace')}") from None
        except (OSError, smtplib.SMTPException) as exc:
            tried.append(f"{host} [{address}]:{port}: {exc or type(exc).__name__}")
    raise SendFailed("no MX accepted it: " + "; ".join(tried))


def _words(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def submit(login: SmtpLogin, *, base: Path, mail_from: str, rcpts: list[str], message: bytes,
           ca_file: str | None = None, timeout: float = 30.0) -> None:
    endpoint = login.endpoint
    where = f"{endpoint.label}"
    password = None
    if login.password:
        password = resolve_secret(login.password, where=f"{where} password", base=base)
    context = ssl.create_default_context(cafile=ca_file)
    try:
        smtp: smtplib.SMTP
        if endpoint.tls == "implicit":
            smtp = smtplib.SMTP_SSL(endpoint.host, endpoint.port, local_hostname=HELO_NAME,
                                    timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(endpoint.host, endpoint.port, local_hostname=HELO_NAME,
                                timeout=timeout)
        with smtp:
            smtp.ehlo()
            if endpoint.tls == "starttls":
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif password is not None and not _loopback(endpoint.host):
                    raise SendFailed(f"{where}: no STARTTLS offered; the password is not sent "
                                     "in clear text")
            if login.user and password is not None:
                smtp.login(login.user, password)
            refused = smtp.sendmail(mail_from, rcpts, message)
            if refused:
                raise SendFailed(f"{where} refused " + ", ".join(
                    f"{r}: {code} {text.decode('utf-8', 'replace')}"
                    for r, (code, text) in refused.items()))
    except smtplib.SMTPResponseException as exc:
        raise SendFailed(f"{where}: {exc.smtp_code} {_words(exc.smtp_error)}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendFailed(f"{where} refused every recipient: {sorted(exc.recipients)}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SendFailed(f"{where}: {exc or type(exc).__name__}") from None
