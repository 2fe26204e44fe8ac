"""Late mail: after the cutover, mail still arrives in the old mailboxes for a while (senders
with the old MX cached, the old provider's own notices). Each pass runs the engine's delta
pass over every user of users.csv (but the probe mailbox), exactly as `mailferry sync` does:
the same state, so a message is copied once however often the monitor runs, and the same
batch runner, so the same per-mailbox lease. From the cutover until the decommission date.
Maintenance windows do not apply: late mail is a trickle, not a migration.
"""

from __future__ import annotations

import threading

from mailferry.batch import (
    AccountFactory,
    BatchRunner,
    WindowSchedule,
    build_jobs,
    concurrency_for,
)
from mailferry.engine import Reporter, SilentReporter
from mailferry.monitor.context import MonitorContext
from mailferry.monitor.results import Check, CheckStatus
from mailferry.project import MailboxUser, load_users
from mailferry.status import MailboxStatus
from mailferry.store import PassOutcome, ProjectState, StateStore


class _Quiet:
    """The batch's reporter: the monitor prints its own summary."""

    def batch_planned(self, mailboxes: int) -> None:
        pass

    def mailbox_started(self, user: MailboxUser) -> Reporter:
        return SilentReporter()

    def mailbox_finished(self, user: MailboxUser, outcome: PassOutcome) -> None:
        pass

    def mailbox_busy(self, user: MailboxUser, holder: str, *, waiting: bool) -> None:
        pass

    def waiting_for_window(self, opens_at: str) -> None:
        pass


def late_mail_checks(ctx: MonitorContext) -> list[Check]:
    now = ctx.clock.now()
    migration = ctx.migration
    if now < migration.cutover:
        return [Check("late-mail", "all", CheckStatus.INFO,
                      f"before the cutover ({migration.cutover:%Y-%m-%d %H:%M %Z}): late mail "
                      "is copied from then on")]
    if now >= migration.decommission:
        return [Check("late-mail", "all", CheckStatus.INFO,
                      f"the old provider is decommissioned since "
                      f"{migration.decommission:%Y-%m-%d %H:%M %Z}: late mail is no longer "
                      "copied")]
    users = [u for u in load_users(ctx.settings.users_file)
             if u.source_user != ctx.monitor.probe_user]
    if not users:
        return []
    outcomes, busy = _delta_pass(ctx, users)
    at = now.timestamp()
    checks: list[Check] = []
    copied = 0
    for user in users:
        outcome = outcomes.get(user.source_user)
        if outcome is None:
            holder = busy.get(user.source_user)
            checks.append(Check("late-mail", user.source_user, CheckStatus.WARN,
                                f"{user.source_user}: not copied this pass"
                                + (f" (in progress elsewhere: {holder})" if holder else "")))
            continue
        failed = outcome.status != MailboxStatus.SYNCED
        ctx.state.add_late_mail(user.source_user, outcome.copied, at,
                                outcome.error if failed else None)
        copied += outcome.copied
        if failed:
            checks.append(Check("late-mail", user.source_user, CheckStatus.ALERT,
                                f"late mail of {user.source_user} could not be copied: "
                                f"{outcome.error or outcome.status}",
                                {"status": str(outcome.status)}))
        elif outcome.copied:
            checks.append(Check("late-mail", user.source_user, CheckStatus.INFO,
                                f"{user.source_user}: {outcome.copied} late messages copied",
                                {"copied": outcome.copied}))
    total = sum(row["messages"] for row in ctx.state.late_mail())
    checks.append(Check("late-mail", "all", CheckStatus.OK,
                        f"{len(users)} mailboxes looked at, {copied} late messages copied "
                        f"this pass, {total} since the cutover; until "
                        f"{migration.decommission:%Y-%m-%d %H:%M %Z}",
                        {"copied": copied, "total": total}))
    return checks


def _delta_pass(ctx: MonitorContext, users: list[MailboxUser],
                ) -> tuple[dict[str, PassOutcome], dict[str, str]]:
    settings = ctx.settings
    concurrency = concurrency_for(settings, len(users))
    factory = AccountFactory(settings, ctx.tls)
    jobs = build_jobs(settings, users, factory, concurrency.workers)
    schedule = WindowSchedule((), settings.timezone, ctx.clock.now)
    location = settings.state_location()
    store = StateStore.open(location)
    try:
        with ProjectState.open(location) as state:
            runner = BatchRunner(store, state, concurrency, schedule, _Quiet(),
                                 ctx.stop if ctx.stop is not None else threading.Event())
            result = runner.run(jobs)
    finally:
        store.close()
    return result.outcomes, dict(getattr(result, "busy", {}))
