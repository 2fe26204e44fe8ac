"""The copy: compare source and target state, decide what to copy, copy it, record it.

Knows nothing of the command line or config files.

What a no-change re-run does not use (matching, dedupe) loads on
first use (module __getattr__): a re-run over a 50 ms link is mostly Python
starting, and every module it imports is part of its time.
"""

from typing import TYPE_CHECKING

from mailferry.engine.copy import MailboxCopy, SessionPair, connect, unchanged_summary

# eager: the function has its module's name, and a submodule once imported (by anyone)
# would shadow a lazy name of the package
from mailferry.engine.fingerprint import (
    body_digest,
    fingerprint,
    header_block,
    message_id,
    relayed_fingerprint,
)
from mailferry.engine.folders import Folder, FolderFilters, folders_from_listing, plan_folders
from mailferry.engine.options import CopyOptions
from mailferry.engine.parallel import both
from mailferry.engine.results import (
    CopySummary,
    FolderResult,
    MessageFailure,
    MirrorAction,
    MirrorReport,
    Reporter,
    SilentReporter,
)
from mailferry.engine.source import (
    ImapSource,
    MessageSource,
    SourceHeader,
    SourceMessage,
    SourceOpener,
    imap_source,
)
from mailferry.lazy import lazy_names

if TYPE_CHECKING:
    from mailferry.engine.dedupe import (
        DuplicateSet,
        FolderDuplicates,
        find_duplicates,
        remove_duplicates,
    )
    from mailferry.engine.matcher import Decision, Match, Matcher, MessageKey
    from mailferry.engine.message_filter import MessageFilter
    from mailferry.engine.mirror_plan import MirrorCap
    from mailferry.engine.retry import RetryPolicy

_LAZY = {  # name -> the module of mailferry.engine that defines it
    "Decision": "matcher",
    "DuplicateSet": "dedupe",
    "FolderDuplicates": "dedupe",
    "Match": "matcher",
    "Matcher": "matcher",
    "MessageFilter": "message_filter",
    "MessageKey": "matcher",
    "MirrorCap": "mirror_plan",
    "RetryPolicy": "retry",
    "find_duplicates": "dedupe",
    "remove_duplicates": "dedupe",
}


__getattr__ = lazy_names(__name__, _LAZY)


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
    "both",
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
