"""Looking for test mail (probes, deliverability messages) in a mailbox over IMAP, through
mailferry's own IMAP session: which folder it landed in (the INBOX or a Junk folder), and
the headers the receiving side added (Authentication-Results, spam verdicts)."""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
from dataclasses import dataclass
from typing import Any

from mailferry.imap import Account, ImapSession, ListEntry, decode_name, session_for, uid_set

_JUNK_NAMES = ("junk", "spam", "junk email", "junk e-mail", "bulk mail")
# headers receivers add to say what they made of a message
_VERDICT_PREFIXES = ("authentication-results", "arc-authentication-results", "received-spf",
                     "x-spam", "x-rspamd", "x-ms-exchange-organization-scl",
                     "x-microsoft-antispam", "x-forefront-antispam")


@dataclass(frozen=True)
class Found:
    token: str
    folder: str  # as people read it ("INBOX", "Junk")
    junk: bool
    uid: int
    verdicts: dict[str, list[str]]  # header name (lower case) -> values

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "junk": self.junk, "verdicts": self.verdicts}


def verdict_headers(header: bytes) -> dict[str, list[str]]:
    """The receiving side's verdicts from a header block, unfolded."""
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header)
    out: dict[str, list[str]] = {}
    for name, value in parsed.items():
        lower = name.lower()
        if lower.startswith(_VERDICT_PREFIXES):
            out.setdefault(lower, []).append(" ".join(str(value).split()))
    return out


def _watched(entries: list[ListEntry]) -> list[tuple[bytes, bool]]:
    """INBOX and the Junk folders: (wire name, is junk)."""
    junk = [e.name for e in entries if e.selectable and "\\junk" in
            {a.lower() for a in e.attributes}]
    if not junk:  # no SPECIAL-USE: go by the usual names
        junk = [e.name for e in entries if e.selectable and
                decode_name(e.name).rsplit(e.delimiter or "/", 1)[-1].lower() in _JUNK_NAMES]
    return [(b"INBOX", False)] + [(name, True) for name in junk]


def find_by_header(account: Account, header: str, *, since: dt.date | None = None,
                   delete: bool = False, timeout: float = 30.0) -> dict[str, Found]:
    """Every message carrying `header` in the INBOX and Junk folders, by the header's value.
    `delete`: remove them once read (the monitor's own probe mailbox on the new system)."""
    found: dict[str, Found] = {}
    session = session_for(account, timeout=timeout)
    try:
        entries, _, _ = session.list_folders()
        for name, junk in _watched(entries):
            found.update(_search(session, name, junk, header, since, delete))
    finally:
        session.logout()
    return found


def _search(session: ImapSession, mailbox: bytes, junk: bool, header: str,
            since: dt.date | None, delete: bool) -> dict[str, Found]:
    session.select(mailbox, readonly=not delete)
    criteria = b'HEADER %s ""' % header.encode()
    if since is not None:
        criteria += b" SINCE " + since.strftime("%d-%b-%Y").encode()
    uids = session.uid_search(criteria)
    if not uids:
        return {}
    found: dict[str, Found] = {}
    wanted = header.lower()
    for item in session.uid_fetch(uid_set(uids), b"(UID BODY.PEEK[HEADER])"):
        if item.header is None or item.uid is None:
            continue
        parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            item.header)
        token = next((str(v).strip() for k, v in parsed.items() if k.lower() == wanted), "")
        if token:
            found[token] = Found(token, decode_name(mailbox), junk, item.uid,
                                 verdict_headers(item.header))
    if delete and found:
        ours = uid_set(sorted(f.uid for f in found.values()))
        session.uid_store_flags(ours, ["\\Deleted"])
        if "UIDPLUS" in session.capabilities:
            session.command(b"UID EXPUNGE", ours)
        else:
            session.command(b"EXPUNGE")
    return found
