"""`verify` and `backup` over a wave or a whole project: one mailbox after another, each with
the accounts and folder filters `sync` uses; verify results are stored in the project state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailferry.backup import BackupSummary, Codec, backup_mailbox
from mailferry.batch.accounts import AccountFactory, account_urls
from mailferry.batch.jobs import copy_options
from mailferry.errors import MailferryError
from mailferry.project import MailboxUser, ProjectSettings
from mailferry.status import VerifyStatus
from mailferry.store import ProjectState
from mailferry.verify import VerifyReport, verify_mailbox

DIFFERENCES_KEPT = 200  # per mailbox in the state file; the count is always exact


@dataclass(frozen=True)
class UserVerify:
    user: MailboxUser
    report: VerifyReport | None  # None: could not verify (see error)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok

    @property
    def status(self) -> str:
        if self.ok:
            return VerifyStatus.VERIFIED
        return VerifyStatus.ERROR if self.report is None else VerifyStatus.DIFFERS

    def stored(self) -> dict[str, Any]:
        """What the project state keeps: totals, counts and the first differences."""
        if self.report is None:
            return {"ok": False, "differences": 0, "error": self.error, "deep": False,
                    "folders": 0, "totals": {}, "listed": [], "excluded": []}
        data = self.report.to_json()
        return {"ok": self.report.ok, "differences": len(self.report.differences),
                "error": None, "deep": self.report.deep, "seconds": data["seconds"],
                "source": data["source"], "target": data["target"],
                "folders": len(self.report.folders), "totals": data["totals"],
                "listed": data["differences"][:DIFFERENCES_KEPT],
                "excluded": data["excluded"]}


def verify_users(settings: ProjectSettings, users: Sequence[MailboxUser],
                 factory: AccountFactory, state: ProjectState, *, deep: bool = False,
                 done: Callable[[UserVerify], None] | None = None) -> list[UserVerify]:
    """Verify each user's mailbox and record the outcome (a clean one becomes verified).
    A mailbox that cannot be reached is an error for that user; the others go on."""
    factory.check(list(users))  # a missing password is bad input before anything starts
    results = []
    for user in users:
        filters = copy_options(settings.rules_for(user.wave), 1).filters
        try:
            source, target = factory.accounts(user)
            result = UserVerify(user, verify_mailbox(source, target, filters=filters, deep=deep))
        except MailferryError as exc:
            result = UserVerify(user, None, str(exc))
        source_url, target_url = account_urls(settings, user)
        state.record_verification(
            source_user=user.source_user, target_user=user.target_user, wave=user.wave,
            department=user.department, source=source_url, target=target_url,
            result=result.stored())
        results.append(result)
        if done is not None:
            done(result)
    return results


@dataclass(frozen=True)
class UserBackup:
    user: MailboxUser
    summary: BackupSummary | None
    error: str | None = None


def backup_users(users: Sequence[MailboxUser], factory: AccountFactory, root: Path,
                 codec: Codec, *, done: Callable[[UserBackup], None] | None = None,
                 ) -> list[UserBackup]:
    """One backup tree per user's source mailbox under `root` (DIR/<user@host>/)."""
    factory.check(list(users))
    results = []
    for user in users:
        try:
            result = UserBackup(user, backup_mailbox(factory.source_account(user), root, codec))
        except MailferryError as exc:
            result = UserBackup(user, None, str(exc))
        results.append(result)
        if done is not None:
            done(result)
    return results
