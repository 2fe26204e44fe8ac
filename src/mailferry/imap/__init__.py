"""IMAP sessions: connect (TLS/STARTTLS), authenticate, list, status, fetch, append.

Three layers (docs/imap-client.md): `protocol` (no I/O: tags, framing, responses, tagged
status to errors; `wire` and `results` parse), `transport` (socket, TLS, deadline: the one
place OS errors are mapped), `session` (the two composed, one method per command).
The engine talks to IMAP only through what is exported here.
"""

from mailferry.imap.address import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.imap.names import decode_name, encode_name
from mailferry.imap.protocol import AppendMessage, refusal, uid_set
from mailferry.imap.results import AppendResult, Selected
from mailferry.imap.session import ImapSession, PendingAppend, expect_capabilities, session_for
from mailferry.imap.transport import SessionLimits, tls_context
from mailferry.imap.wire import FetchItem, ListEntry, Namespace

__all__ = [
    "Account", "AppendMessage", "AppendResult", "Credentials", "FetchItem", "ImapSession",
    "ListEntry", "Namespace", "PendingAppend", "Selected", "SessionLimits", "TlsPolicy",
    "decode_name", "encode_name", "expect_capabilities", "parse_mailbox_url", "refusal",
    "session_for", "tls_context", "uid_set",
]
