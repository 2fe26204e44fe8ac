"""From a project and a selection of users to the jobs a `BatchRunner` runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from mailferry.batch.accounts import AccountFactory, account_urls
from mailferry.batch.limits import Concurrency, plan_concurrency
from mailferry.batch.runner import MailboxJob
from mailferry.engine import CopyOptions, FolderFilters, MessageFilter, MirrorCap
from mailferry.project import FolderRules, MailboxUser, ProjectSettings


def copy_options(rules: FolderRules, workers: int, *, retries: int = 3,
                 backoff: float = 5.0) -> CopyOptions:
    """The engine's options for one user; `retries` and `backoff` ([sync]) set the one retry
    policy (connecting, preparing and each folder)."""
    filters = FolderFilters(include=rules.include, exclude=rules.exclude,
                            exclude_special=rules.exclude_special, renames=rules.map,
                            automap=rules.automap,
                            messages=MessageFilter(rules.max_age, rules.min_age, rules.max_size))
    return CopyOptions(filters=filters, skip_duplicates=rules.skip_duplicates, workers=workers,
                       retries=retries, backoff=backoff)


def concurrency_for(settings: ProjectSettings, selected: int, *, mailboxes: int | None = None,
                    workers: int | None = None) -> Concurrency:
    return plan_concurrency(
        mailboxes=mailboxes or settings.sync.mailboxes, workers=workers or settings.sync.workers,
        selected=selected,
        caps=(settings.source.max_connections, settings.target.max_connections))


def build_jobs(settings: ProjectSettings, users: Sequence[MailboxUser], factory: AccountFactory,
               workers: int, *, mirror: bool | None = None, force: bool = False,
               now: dt.datetime | None = None) -> list[MailboxJob]:
    """One job per user; filters from [filters] with the user's [waves.NAME] overrides.
    Mirror mode from [sync]/[waves.NAME] mirror (or `mirror`, the command line's), off for a
    user whose cutover has passed at `now`. Checks every user's credentials first, so bad
    input stops the run before it starts."""
    factory.check(list(users))
    now = now or dt.datetime.now(dt.UTC)
    cap = MirrorCap.parse(settings.sync.mirror_cap)
    jobs = []
    for user in users:
        options = copy_options(settings.rules_for(user.wave), workers,
                               retries=settings.sync.retries, backoff=settings.sync.backoff)
        on, note = settings.mirror_for(user.wave, now, wanted=mirror)
        options = replace(options, mirror=on, mirror_cap=cap, force=force, mirror_note=note)
        jobs.append(MailboxJob(user, account_urls(settings, user),
                               partial(factory.accounts, user), options))
    return jobs
