"""IMAP sessions: connect (TLS/STARTTLS), authenticate, list, status, fetch, append.

The engine talks to IMAP only through what is exported here.
"""

from mailferry.imap.address import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.imap.mailboxes import (
    create_mailbox,
    mailbox_listing,
    mailbox_status,
    personal_namespace,
    subscribe_mailbox,
)
from mailferry.imap.names import decode_name, encode_name
from mailferry.imap.reader import SessionLimits
from mailferry.imap.session import (
    AppendMessage,
    AppendResult,
    ImapSession,
    Selected,
    session_for,
)
from mailferry.imap.wire import FetchItem, ListEntry, Namespace, uid_set

__all__ = [
    "Account", "AppendMessage", "AppendResult", "Credentials", "FetchItem", "ImapSession",
    "ListEntry", "Namespace", "Selected", "SessionLimits", "TlsPolicy", "create_mailbox",
    "decode_name", "encode_name", "mailbox_listing", "mailbox_status", "parse_mailbox_url",
    "personal_namespace", "session_for", "subscribe_mailbox", "uid_set",
]
