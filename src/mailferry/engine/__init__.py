"""The copy: compare source and target state, decide what to copy, copy it, record it.

Knows nothing of the command line or config files.
"""

from mailferry.engine.copy import MailboxCopy, SessionPair, connect, unchanged_summary
from mailferry.engine.dedupe import (
    DuplicateSet,
    FolderDuplicates,
    find_duplicates,
    remove_duplicates,
)
from mailferry.engine.fingerprint import (
    body_digest,
    fingerprint,
    header_block,
    message_id,
    relayed_fingerprint,
)
from mailferry.engine.folders import Folder, FolderFilters, folders_from_listing, plan_folders
from mailferry.engine.matcher import Decision, Match, Matcher, MessageKey
from mailferry.engine.message_filter import MessageFilter
from mailferry.engine.mirror_plan import MirrorCap
from mailferry.engine.options import CopyOptions
from mailferry.engine.results import (
    CopySummary,
    FolderResult,
    MessageFailure,
    MirrorAction,
    MirrorReport,
    Reporter,
    SilentReporter,
)
from mailferry.engine.retry import RetryPolicy
from mailferry.engine.source import (
    ImapSource,
    MessageSource,
    SourceHeader,
    SourceMessage,
    SourceOpener,
    imap_source,
)

__all__ = [
    "CopyOptions",
    "CopySummary",
    "Decision",
    "DuplicateSet",
    "Folder",
    "FolderDuplicates",
    "FolderFilters",
    "FolderResult",
    "ImapSource",
    "MailboxCopy",
    "Match",
    "Matcher",
    "MessageFailure",
    "MessageFilter",
    "MessageKey",
    "MessageSource",
    "MirrorAction",
    "MirrorCap",
    "MirrorReport",
    "Reporter",
    "RetryPolicy",
    "SessionPair",
    "SilentReporter",
    "SourceHeader",
    "SourceMessage",
    "SourceOpener",
    "body_digest",
    "connect",
    "find_duplicates",
    "fingerprint",
    "folders_from_listing",
    "header_block",
    "imap_source",
    "message_id",
    "plan_folders",
    "relayed_fingerprint",
    "remove_duplicates",
    "unchanged_summary",
]
