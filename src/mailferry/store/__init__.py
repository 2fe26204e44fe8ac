"""Durable state (SQLAlchemy Core; a SQLite file by default, PostgreSQL for many machines;
the schema in store/tables.py, kept by Alembic): the copy state, a project's
per-mailbox progress, the read-side queries live views run over it, what the monitor saw
after the cutover, and the leases that let one run at a time write a target mailbox (see
docs/leases.md).

Everything but the plain records loads on first use (module __getattr__): SQLAlchemy takes
longer to import than a whole no-change re-run takes over a 50 ms link, and such a re-run
reads its folder marks (marks.py) with the standard library's sqlite3 alone.
"""

from typing import TYPE_CHECKING

from mailferry.lazy import lazy_names
from mailferry.store.marks import FolderMarks
from mailferry.store.records import (
    NOTHING_LEARNED,
    FailureRecord,
    FolderState,
    ForeignMessage,
    MappedMessage,
    TargetTraits,
)

if TYPE_CHECKING:
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
    from mailferry.store.state import StateStore
    from mailferry.store.transfer import TransferResult, copy_state

_LAZY = {  # name -> the module of mailferry.store that defines it
    "Activity": "queries",
    "DmarcRecord": "monitoring",
    "DmarcReport": "monitoring",
    "FailedUser": "queries",
    "FolderSize": "inventory",
    "HeldLease": "leases",
    "Incident": "monitoring",
    "JobRecord": "jobs",
    "JobState": "jobs",
    "LeaseHolder": "leases",
    "LeaseInfo": "leases",
    "LeaseTable": "leases",
    "LeaseTimes": "leases",
    "MailboxInventory": "inventory",
    "MailboxProgress": "progress",
    "MailboxRecord": "project_state",
    "MonitorState": "monitoring",
    "NoticeJournal": "notices",
    "NoticeRecord": "notices",
    "NoticeState": "notices",
    "PassOutcome": "project_state",
    "Probe": "monitoring",
    "ProjectState": "project_state",
    "RosterEntry": "progress",
    "STATUSES": "project_state",
    "SealedSecret": "one_time",
    "StateStore": "state",
    "StoreLocation": "database",
    "Tally": "queries",
    "TransferResult": "transfer",
    "UserFilter": "queries",
    "UserPage": "queries",
    "UserRow": "queries",
    "activity": "queries",
    "choices": "queries",
    "copy_state": "transfer",
    "describe_location": "database",
    "failed_users": "queries",
    "is_shared": "database",
    "mailbox_lease_key": "leases",
    "parse_location": "database",
    "roster_digest": "progress",
    "user_page": "queries",
    "wave_tallies": "queries",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "NOTHING_LEARNED", "STATUSES", "Activity", "DmarcRecord", "DmarcReport", "FailedUser",
    "FailureRecord",
    "FolderMarks", "FolderSize", "FolderState", "ForeignMessage", "HeldLease", "Incident",
    "JobRecord",
    "JobState", "LeaseHolder", "LeaseInfo", "LeaseTable", "LeaseTimes", "MailboxInventory",
    "MailboxProgress", "MailboxRecord", "MappedMessage", "MonitorState", "NoticeJournal",
    "NoticeRecord", "NoticeState", "PassOutcome", "Probe", "ProjectState", "RosterEntry",
    "SealedSecret", "StateStore", "StoreLocation", "Tally", "TargetTraits", "TransferResult",
    "UserFilter",
    "UserPage", "UserRow", "activity", "choices", "copy_state", "describe_location",
    "failed_users", "is_shared",
    "mailbox_lease_key", "parse_location", "roster_digest", "user_page", "wave_tallies",
]
