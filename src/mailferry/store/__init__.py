"""Durable state (SQLAlchemy Core; SQLite by default): the copy state, a project's
per-mailbox progress, what the monitor saw after the cutover, and the leases that let one
run at a time write a target mailbox (see docs/leases.md)."""

from mailferry.store.leases import (
    HeldLease,
    LeaseHolder,
    LeaseInfo,
    LeaseTable,
    LeaseTimes,
    mailbox_lease_key,
)
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
           "HeldLease", "Incident", "LeaseHolder", "LeaseInfo", "LeaseTable", "LeaseTimes",
           "MailboxRecord", "MappedMessage", "MonitorState", "NoticeJournal", "NoticeRecord",
           "NoticeState", "PassOutcome", "Probe", "ProjectState", "StateStore",
           "mailbox_lease_key"]
