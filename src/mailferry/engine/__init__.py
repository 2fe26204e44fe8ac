"""The copy: compare source and target state, decide what to copy, copy it, record it.

Knows nothing of the command line or config files.
"""

from mailferry.engine.copy import MailboxCopy
from mailferry.engine.fingerprint import fingerprint, header_block, message_id
from mailferry.engine.folders import FolderFilters
from mailferry.engine.options import CopyOptions
from mailferry.engine.results import (
    CopySummary,
    FolderResult,
    MessageFailure,
    Reporter,
    SilentReporter,
)
from mailferry.engine.source import MessageSource, SourceOpener, imap_source

__all__ = [
    "CopyOptions",
    "CopySummary",
    "FolderFilters",
    "FolderResult",
    "MailboxCopy",
    "MessageFailure",
    "MessageSource",
    "Reporter",
    "SilentReporter",
    "SourceOpener",
    "fingerprint",
    "header_block",
    "imap_source",
    "message_id",
]
