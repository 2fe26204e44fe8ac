"""Mailbox-level commands built on a session: listing, namespace, status, create, subscribe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailferry.errors import CommandFailed, ProtocolError
from mailferry.imap.wire import (
    ListEntry,
    Namespace,
    astring,
    iter_untagged,
    parse_list,
    parse_status,
)

if TYPE_CHECKING:
    from mailferry.imap.session import ImapSession


def mailbox_listing(session: ImapSession) -> tuple[list[ListEntry], set[bytes]]:
    """Every mailbox with its attributes (special-use included), and the subscribed names."""
    caps = session.capabilities
    if "LIST-EXTENDED" in caps and "SPECIAL-USE" in caps:
        untagged, _ = session.command(b'LIST "" "*" RETURN (SPECIAL-USE SUBSCRIBED)', name="LIST")
        entries = [parse_list(t) for t in iter_untagged(untagged, b"LIST")]
        subscribed = {e.name for e in entries
                      if "\\subscribed" in {a.lower() for a in e.attributes}}
        return [e for e in entries if e.selectable or not _is_nonexistent(e)], subscribed
    untagged, _ = session.command(b'LIST "" "*"', name="LIST")
    entries = [parse_list(t) for t in iter_untagged(untagged, b"LIST")]
    untagged, _ = session.command(b'LSUB "" "*"', name="LSUB")
    subscribed = {parse_list(t).name for t in iter_untagged(untagged, b"LSUB")}
    return entries, subscribed


def _is_nonexistent(entry: ListEntry) -> bool:
    return "\\nonexistent" in {a.lower() for a in entry.attributes}


def personal_namespace(session: ImapSession, entries: Sequence[ListEntry]) -> Namespace:
    if "NAMESPACE" in session.capabilities:
        untagged, _ = session.command(b"NAMESPACE")
        for tokens in iter_untagged(untagged, b"NAMESPACE"):
            personal = tokens[2] if len(tokens) > 2 else None
            if isinstance(personal, list) and personal and isinstance(personal[0], list):
                prefix, separator = (personal[0] + [None, None])[:2]
                return Namespace(prefix if isinstance(prefix, bytes) else b"",
                                 separator.decode() if isinstance(separator, bytes) else None)
    delimiter = next((e.delimiter for e in entries if e.delimiter), None)
    return Namespace(b"", delimiter)


def mailbox_status(session: ImapSession, mailbox: bytes) -> dict[str, int]:
    items = b"(MESSAGES UIDNEXT UIDVALIDITY"
    items += b" HIGHESTMODSEQ" if "CONDSTORE" in session.capabilities else b""
    items += b" SIZE)" if "STATUS=SIZE" in session.capabilities else b")"  # RFC 8438: bytes
    untagged, _ = session.command(b"STATUS", astring(mailbox), items)
    for tokens in iter_untagged(untagged, b"STATUS"):
        return parse_status(tokens)[1]
    raise ProtocolError(f"STATUS {mailbox!r} returned no status", server=str(session.endpoint),
                        command="STATUS")


def create_mailbox(session: ImapSession, mailbox: bytes, *, subscribe: bool) -> None:
    try:
        session.command(b"CREATE", astring(mailbox))
    except CommandFailed as exc:
        if "ALREADYEXISTS" not in exc.text.upper() and "EXISTS" not in exc.text.upper():
            raise
    if subscribe:
        subscribe_mailbox(session, mailbox)


def subscribe_mailbox(session: ImapSession, mailbox: bytes) -> None:
    session.command(b"SUBSCRIBE", astring(mailbox))
