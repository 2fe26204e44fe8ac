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

__all__ = [
    "CopyOptions", "CopySummary", "FolderFilters", "FolderResult", "MailboxCopy",
    "MessageFailure", "Reporter", "SilentReporter", "fingerprint", "header_block", "message_id",
]
