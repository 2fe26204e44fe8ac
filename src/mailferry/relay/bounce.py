"""Delivery status notifications (RFC 3464) for recipients an upstream refused for good."""

from __future__ import annotations

import email.utils
import re
import secrets

_ENHANCED = re.compile(r"\b[45]\.\d{1,3}\.\d{1,3}\b")


def make_dsn(*, hostname: str, mail_from: str, upstream: str,
             failures: dict[str, str], original: bytes) -> bytes:
    """A multipart/report DSN to `mail_from`; `failures` maps recipient -> reason."""
    boundary = f"=_mailferry_{secrets.token_hex(8)}"
    headers_end = original.find(b"\r\n\r\n")
    original_headers = original[: headers_end + 2] if headers_end >= 0 else original
    human = "".join(f"  <{rcpt}>: {reason}\r\n" for rcpt, reason in failures.items())
    per_recipient = "".join(
        f"\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: failed\r\n"
        f"Status: {_status_of(reason)}\r\nDiagnostic-Code: smtp; {_one_line(reason)}\r\n"
        for rcpt, reason in failures.items())
    text = (
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"
        f"To: <{mail_from}>\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {email.utils.formatdate(localtime=False)}\r\n"
        f"Message-ID: <{secrets.token_hex(12)}@{hostname}>\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"Your message could not be delivered to the {upstream} mail system for:\r\n\r\n"
        f"{human}"
        f"\r\n--{boundary}\r\n"
        f"Content-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; {hostname}\r\n"
        f"{per_recipient}"
        f"\r\n--{boundary}\r\n"
        f"Content-Type: text/rfc822-headers\r\n\r\n"
    )
    return text.encode("utf-8") + original_headers + f"\r\n--{boundary}--\r\n".encode()


def _status_of(reason: str) -> str:
    """The enhanced status code (RFC 3463) in the upstream's words, e.g. 5.1.1."""
    match = _ENHANCED.search(reason)
    return match.group(0) if match else "5.0.0"


def _one_line(text: str) -> str:
    return " ".join(text.split())
