"""What the engine needs from the side it copies *from*.

An IMAP session is one such source; a backup directory or an mbox file can be another
(restore and import reuse the whole copy path, with its matching and crash safety).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from mailferry.imap import Account, FetchItem, ImapSession, ListEntry, Namespace, Selected


class MessageSource(Protocol):
    """Read-only mailbox access: the subset of ImapSession the engine uses on the source.

    `uid_fetch` must understand UID sets like b"3,7:9,12:*" and the items the engine asks
    for (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER]); "N:*" includes
    the highest UID even when it is below N, as in IMAP.
    """

    capabilities: frozenset[str]

    def list_folders(self) -> tuple[list[ListEntry], set[bytes], Namespace]: ...

    def status(self, mailbox: bytes) -> dict[str, int]: ...

    def select(self, mailbox: bytes, *, readonly: bool) -> Selected: ...

    def uid_fetch(self, uids: bytes, items: bytes, *, changedsince: int | None = None,
                  ) -> Iterator[FetchItem]: ...

    def close(self) -> None: ...

    def logout(self) -> None: ...


@dataclass(frozen=True)
class SourceOpener:
    """Opens a MessageSource; `name` identifies it in the state database (no secrets)."""

    name: str
    open: Callable[[], MessageSource]


def imap_source(account: Account) -> SourceOpener:
    def open_session() -> ImapSession:
        from mailferry.imap import session_for

        return session_for(account)

    return SourceOpener(str(account.endpoint), open_session)
