"""`mailferry inventory`: what each source mailbox holds, before anything is copied, so
waves can be sized. Per folder, messages and bytes: STATUS (MESSAGES SIZE) where the server
offers RFC 8438, else EXAMINE and FETCH 1:* RFC822.SIZE (sizes only, never a body; EXAMINE
leaves \\Seen alone). Folders the user's [filters] leave out are listed but not counted.
The source is only read; the target is not contacted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from mailferry.batch.accounts import AccountFactory
from mailferry.batch.jobs import copy_options
from mailferry.engine import FolderFilters, folders_from_listing, plan_folders
from mailferry.errors import MailferryError
from mailferry.imap import Account, ImapSession, session_for
from mailferry.project import MailboxUser, ProjectSettings
from mailferry.store import FolderSize, MailboxInventory, ProjectState

STATUS_SIZE = "STATUS SIZE"
FETCH_SIZES = "FETCH RFC822.SIZE"


def count_mailbox(source_user: str, account: Account,
                  filters: FolderFilters) -> MailboxInventory:
    """Every selectable folder of one source mailbox, with its messages and bytes."""
    with session_for(account) as session:
        entries, subscribed, namespace = session.list_folders()
        folders = [f for f in folders_from_listing(entries, subscribed, namespace)
                   if f.selectable]
        excluded = {e.source.wire: e.reason
                    for e in plan_folders(folders, [], namespace, filters).excluded}
        by_status = "STATUS=SIZE" in session.capabilities
        folders.sort(key=lambda f: f.path)
        # STATUS of every folder at once (ImapSession.statuses: one round trip per 200)
        statuses = session.statuses([f.wire for f in folders]) if by_status else {}
        sizes = []
        for folder in folders:
            found = statuses.get(folder.wire)
            messages, size = ((found.get("MESSAGES", 0), found.get("SIZE", 0)) if found is not None
                              else _by_fetch(session, folder.wire))
            sizes.append(FolderSize(folder.display, messages, size,
                                    excluded.get(folder.wire, "")))
    return MailboxInventory(source_user, time.time(), STATUS_SIZE if by_status else FETCH_SIZES,
                            tuple(sizes))


def _by_fetch(session: ImapSession, wire: bytes) -> tuple[int, int]:
    selected = session.select(wire, readonly=True)
    messages = size = 0
    if selected.exists:
        for item in session.uid_fetch(b"1:*", b"(RFC822.SIZE)"):
            messages += 1
            size += item.size or 0
    session.unselect(wire)
    return messages, size


def inventory_users(settings: ProjectSettings, users: Sequence[MailboxUser],
                    factory: AccountFactory, state: ProjectState, *, mailboxes: int,
                    done: Callable[[MailboxInventory], None] | None = None,
                    ) -> list[MailboxInventory]:
    """Count each user's source mailbox, `mailboxes` at once (never more than the source's
    max_connections), and store each result. A mailbox that cannot be reached is an error
    for that user (kept with the server's words); the others go on."""
    factory.check(list(users), sides=("source",))  # bad input before anything starts

    def one(user: MailboxUser) -> MailboxInventory:
        filters = copy_options(settings.rules_for(user.wave), 1).filters
        try:
            found = count_mailbox(user.source_user, factory.source_account(user), filters)
        except MailferryError as exc:
            found = MailboxInventory(user.source_user, time.time(), "", error=str(exc))
        state.record_inventory(found)
        if done is not None:
            done(found)
        return found

    lanes = max(1, min(mailboxes, settings.source.max_connections or mailboxes))
    with ThreadPoolExecutor(lanes, thread_name_prefix="inventory") as pool:
        return list(pool.map(one, users))
