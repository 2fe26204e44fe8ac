"""Which mailboxes a `sync` covers: a wave, named users, or everyone."""

from __future__ import annotations

from collections.abc import Sequence

from mailferry.errors import ConfigError
from mailferry.project import MailboxUser


def select_mailboxes(users: Sequence[MailboxUser], *, wave: str | None = None,
                     names: Sequence[str] = ()) -> list[MailboxUser]:
    """Users of `wave` and/or named by source or target user; all users if neither is given.
    An unknown wave or user is bad input, so a typo never syncs nobody (or everybody)."""
    if wave is None and not names:
        return list(users)
    chosen: list[MailboxUser] = []
    if wave is not None:
        chosen = [u for u in users if u.wave == wave]
        if not chosen:
            known = sorted({u.wave for u in users if u.wave})
            raise ConfigError(f"--wave {wave!r}: no users in this wave (waves: "
                              f"{', '.join(known) or 'none yet'})")
    by_name = {u.source_user: u for u in users} | {u.target_user: u for u in users}
    for name in names:
        if name not in by_name:
            raise ConfigError(f"--user {name!r}: not in users.csv")
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    return chosen
