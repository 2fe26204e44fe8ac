"""Everything a monitor pass needs, built once from the project file (settings passed down,
no globals): the migration, the project's users and logins, the state, the clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from mailferry.batch import AccountFactory
from mailferry.errors import ConfigError
from mailferry.imap import Account, TlsPolicy
from mailferry.monitor.clock import Clock
from mailferry.project import (
    MailboxUser,
    Migration,
    MonitorSettings,
    ProjectSettings,
    load,
    load_users,
)
from mailferry.store import MonitorState


@dataclass
class MonitorContext:
    migration: Migration
    settings: ProjectSettings
    monitor: MonitorSettings
    state: MonitorState
    clock: Clock
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    stop: threading.Event = field(default_factory=threading.Event)
    _factory: AccountFactory | None = None

    @property
    def factory(self) -> AccountFactory:
        if self._factory is None:
            self._factory = AccountFactory(self.settings, self.tls)
        return self._factory

    def user(self, name: str) -> MailboxUser:
        """The users.csv row of `name`, or a row of its own (same name on both systems)."""
        for user in load_users(self.settings.users_file):
            if name in (user.source_user, user.target_user):
                return user
        return MailboxUser(name, name, "", "", 0)

    def old_account(self, name: str) -> Account:
        """The login of a mailbox on the old system, as `sync` makes it."""
        return self.factory.source_account(self.user(name))

    def new_account(self, name: str) -> Account:
        return self.factory.target_account(self.user(name))


def load_context(path: Path, clock: Clock, tls: TlsPolicy,
                 stop: threading.Event | None = None) -> MonitorContext:
    """Read and check the whole project before anything is sent or written: bad input is
    a ConfigError (exit 2) naming file:line."""
    project_file = load(path)
    migration = project_file.plan
    if migration.monitor is None:
        raise ConfigError("missing section [monitor]: see docs/monitor.md", where=str(path))
    settings = project_file.sync
    context = MonitorContext(migration, settings, migration.monitor,
                             MonitorState.open(settings.state_location()), clock, tls,
                             stop or threading.Event())
    try:
        monitor = migration.monitor
        for name in (monitor.probe_user, monitor.dmarc_user):
            if name:
                context.new_account(name)  # a missing password or token: exit 2 now
        if monitor.probe_user and monitor.dual_delivery:
            context.old_account(monitor.probe_user)
    except BaseException:
        context.state.close()
        raise
    return context
