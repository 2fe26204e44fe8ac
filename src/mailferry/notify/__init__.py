"""Notices to users (before their wave, the day before, date changed, moved), credentials
letters, and their submission with a per-user journal. The CLI uses only what is here."""

from mailferry.notify.model import NoticeKind, NotifyProject
from mailferry.notify.render import Notice, Renderer
from mailferry.notify.run import (
    NoticeOutcome,
    NotifyResult,
    due,
    journal_records,
    select_users,
    send,
    submitter_for,
    today_in,
    write_letters,
    write_preview,
)

__all__ = [
    "Notice", "NoticeKind", "NoticeOutcome", "NotifyProject", "NotifyResult", "Renderer",
    "due", "journal_records", "select_users", "send", "submitter_for", "today_in",
    "write_letters", "write_preview",
]
