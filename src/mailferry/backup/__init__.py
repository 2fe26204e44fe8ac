"""Backups a user can open without mailferry, and the local sources restore and import use.

`backup_mailbox` writes a backup (layout.py describes it), `check_backup` re-hashes one,
`backup_source`, `mbox_source` and `maildir_source` open local mail as an engine
MessageSource so MailboxCopy puts it into any IMAP server.
"""

from mailferry.backup.check import BackupCheck, check_backup
from mailferry.backup.codec import COMPRESSIONS, Codec, read_key
from mailferry.backup.sources import backup_source, maildir_source, mbox_source
from mailferry.backup.store import held_messages, mailbox_dirs
from mailferry.backup.writer import BackupSummary, backup_mailbox

__all__ = [
    "COMPRESSIONS", "BackupCheck", "BackupSummary", "Codec", "backup_mailbox", "backup_source",
    "check_backup", "held_messages", "mailbox_dirs", "maildir_source", "mbox_source", "read_key",
]
