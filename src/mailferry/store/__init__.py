"""Durable state (SQLAlchemy Core; a SQLite file by default, PostgreSQL for many machines;
the schema by Alembic): the copy state, a project's
per-mailbox progress, the read-side queries live views run over it, what the monitor saw
after the cutover, and the leases that let one run at a time write a target mailbox (see
docs/leases.md)."""

from mailferry.store.database import StoreLocation, describe_location, is_shared, parse_location
from mailferry.store.inventory import FolderSize, MailboxInventory
from mailferry.store.jobs import JobRecord, JobState
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
from mailferry.store.one_time import SealedSecret
from mailferry.store.progress import MailboxProgress, RosterEntry, roster_digest
from mailferry.store.project_state import STATUSES, MailboxRecord, PassOutcome, ProjectState
from mailferry.store.queries import (
    Activity,
    FailedUser,
    Tally,
    UserFilter,
    UserPage,
    UserRow,
    activity,
    choices,
    failed_users,
    user_page,
    wave_tallies,
)
from mailferry.store.state import (
    FailureRecord,
    FolderState,
    ForeignMessage,
    MappedMessage,
    StateStore,
)
from mailferry.store.transfer import TransferResult, copy_state

__all__ = [
    "STATUSES", "Activity", "DmarcRecord", "DmarcReport", "FailedUser", "FailureRecord",
    "FolderSize", "FolderState", "ForeignMessage", "HeldLease", "Incident", "JobRecord",
    "JobState", "LeaseHolder", "LeaseInfo", "LeaseTable", "LeaseTimes", "MailboxInventory",
    "MailboxProgress", "MailboxRecord", "MappedMessage", "MonitorState", "NoticeJournal",
    "NoticeRecord", "NoticeState", "PassOutcome", "Probe", "ProjectState", "RosterEntry",
    "SealedSecret", "StateStore", "StoreLocation", "Tally", "TransferResult", "UserFilter",
    "UserPage", "UserRow", "activity", "choices", "copy_state", "describe_location",
    "failed_users", "is_shared",
    "mailbox_lease_key", "parse_location", "roster_digest", "user_page", "wave_tallies",
]
