"""Durable state (SQLAlchemy Core; SQLite by default): the copy state, a project's
per-mailbox progress, and what the monitor saw after the cutover."""

from mailferry.store.monitoring import DmarcRecord, DmarcReport, Incident, MonitorState, Probe
from mailferry.store.notices import NoticeJournal, NoticeRecord, NoticeState
from mailferry.store.project_state import MailboxRecord, PassOutcome, ProjectState
from mailferry.store.state import (
    FailureRecord,
    FolderState,
    ForeignMessage,
    MappedMessage,
    StateStore,
)

__all__ = ["DmarcRecord", "DmarcReport", "FailureRecord", "FolderState", "ForeignMessage",
           "Incident", "MailboxRecord", "MappedMessage", "MonitorState", "NoticeJournal",
           "NoticeRecord", "NoticeState", "PassOutcome", "Probe", "ProjectState", "StateStore"]
