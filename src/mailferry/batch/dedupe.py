"""`dedupe` over a project's target mailboxes: find the duplicates (engine.find_duplicates)
and, when asked, remove them, one mailbox after another. Only target accounts are opened:
the source is never contacted. A real run holds the mailbox's lease (the one `sync` takes,
docs/leases.md) from the first read to the last removal, and, unless told to go without,
first brings the mailbox's backup up to date and checks that it holds every message about
to be removed (same folder, UIDVALIDITY, UID and bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mailferry.backup import Codec, backup_mailbox, held_messages
from mailferry.batch.accounts import AccountFactory, account_urls
from mailferry.engine import FolderDuplicates, find_duplicates, remove_duplicates
from mailferry.errors import MailboxBusy, MailferryError
from mailferry.imap import Account, session_for
from mailferry.project import MailboxUser, ProjectSettings
from mailferry.store import LeaseTimes, StateStore, mailbox_lease_key


@dataclass
class UserDedupe:
    user: MailboxUser
    target: str  # imap://user@host:port, no secret
    folders: list[FolderDuplicates] = field(default_factory=list)
    error: str | None = None
    applied: bool = False
    backup: str | None = None  # the backup checked before anything was removed

    @property
    def to_remove(self) -> int:
        return sum(f.to_remove for f in self.folders)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.folders)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "error": self.error, "applied": self.applied,
                "backup": self.backup, "duplicates": self.to_remove, "removed": self.removed,
                "folders": [f.to_json() for f in self.folders if f.sets or f.note]}


@dataclass(frozen=True)
class DedupeRun:
    apply: bool = False  # False: a dry run, nothing is changed and no lease is taken
    backup_root: Path | None = None  # None with apply: the admin said --no-backup
    wait: bool = False  # for a lease another run holds


def dedupe_users(settings: ProjectSettings, users: Sequence[MailboxUser],
                 factory: AccountFactory, store: StateStore, run: DedupeRun, *,
                 done: Callable[[UserDedupe], None] | None = None,
                 waiting: Callable[[str], None] | None = None) -> list[UserDedupe]:
    """Each user's target mailbox in turn; `done` after each, `waiting` (with the holder)
    when a real run waits for a lease another run holds."""
    factory.check(list(users), sides=("target",))  # bad input before anything starts
    results = []
    for user in users:
        target_url = account_urls(settings, user)[1]
        result = UserDedupe(user, target_url)
        try:
            account = factory.target_account(user)
            if run.apply:
                _apply(account, result, store, run, LeaseTimes(settings.sync.lease_ttl),
                       waiting)
            else:
                with session_for(account) as session:
                    result.folders = find_duplicates(session)
        except MailferryError as exc:
            result.error = str(exc)
        results.append(result)
        if done is not None:
            done(result)
    return results


def _apply(account: Account, result: UserDedupe, store: StateStore, run: DedupeRun,
           times: LeaseTimes, waiting: Callable[[str], None] | None) -> None:
    key = mailbox_lease_key(result.target)
    try:
        lease = store.leases.acquire(key, times=times)
    except MailboxBusy as busy:
        if not run.wait:
            raise MailboxBusy(f"{busy} (--wait waits for it)", holder=busy.holder) from None
        if waiting is not None:
            waiting(str(busy))
        lease = store.leases.acquire(key, times=times, wait=True)
    with lease:
        guarded = replace(account, write_guard=lease)
        with session_for(guarded) as session:
            result.folders = find_duplicates(session)
            if not result.to_remove:
                return
            if run.backup_root is not None:
                result.backup = _backed_up(guarded, run.backup_root, result.folders)
            for folder in result.folders:
                lease.check()
                remove_duplicates(session, folder)
            result.applied = True


def _backed_up(account: Account, root: Path, folders: list[FolderDuplicates]) -> str:
    """Bring the mailbox's backup in `root` up to date (under the lease: nothing changes
    meanwhile) and check it holds each message to be removed; its directory."""
    root.mkdir(parents=True, exist_ok=True)
    directory = Path(backup_mailbox(account, root, Codec("none", None)).directory)
    held = held_messages(directory)
    missing = [(f.folder.display, uid) for f in folders for s in f.sets for uid in s.remove
               if (f.folder.path, f.uidvalidity, uid, s.sha256) not in held]
    if missing:
        folder, uid = missing[0]
        raise MailferryError(f"the backup in {directory} lacks {len(missing)} of the messages "
                             f"to remove (first: {folder} UID {uid}): nothing removed")
    return str(directory)
