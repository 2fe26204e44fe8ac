"""What the engine needs from the side it copies *from*, in its own terms: folders, UIDs,
header blocks, bodies, flags changed since a mod-sequence. Never IMAP item strings.

An IMAP session is one such source (`ImapSource`); a backup, an mbox file or a Maildir is
another (restore and import reuse the whole copy path, with its matching and crash safety).
Whatever a source answers is checked by the engine, not trusted: see `checked`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mailferry.errors import IncompleteAnswer
from mailferry.imap import (
    Account,
    ImapSession,
    ListEntry,
    Namespace,
    Selected,
    SessionLimits,
    uid_set,
)

if TYPE_CHECKING:
    from mailferry.store import FolderState

UID_SET_CHUNK = 8000  # bytes of UID set per command: servers limit command lines (~8-64 KB)
FIRST_MEASURED_FETCH = 32  # messages (see ImapSource.messages)


@dataclass(frozen=True)
class SourceHeader:
    uid: int
    flags: tuple[str, ...]
    internaldate: str
    size: int | None  # what the source says (RFC822.SIZE can be wrong)
    header: bytes
    problem: str | None = None  # the source cannot give this message as recorded: why


@dataclass(frozen=True)
class SourceMessage:
    uid: int
    flags: tuple[str, ...]
    internaldate: str | None
    body: bytes | None  # None: larger than the limit asked for, so not read (or `problem`)
    size: int  # len(body), or the size announced for a body not read
    # a local source (a backup) that cannot give the bytes it recorded says why; the message
    # then fails with that reason and the copy goes on
    problem: str | None = None

    @property
    def too_large(self) -> bool:
        return self.body is None and self.problem is None


class MessageSource(Protocol):
    """Read-only access to a mailbox. `uids`, `headers`, `messages` and `flags` apply to the
    folder last examined; UIDs are passed as integers in ascending order."""

    @property
    def condstore(self) -> bool:
        """Whether `flags(changed_since=...)` can leave out unchanged messages."""

    def list_folders(self, *, at_login: bool = False,
                     ) -> tuple[list[ListEntry], set[bytes], Namespace]:
        """`at_login`: an answer got with the login may serve (ImapSession.list_folders)."""

    def status(self, mailbox: bytes) -> dict[str, int]: ...

    def statuses(self, mailboxes: Sequence[bytes]) -> dict[bytes, dict[str, int]]:
        """`status` of each, at once where the source can (pipelined over IMAP)."""

    def examine(self, mailbox: bytes) -> Selected: ...

    def examine_ahead(self, mailbox: bytes, *,
                      changed_flags: tuple[int, int] | None = None) -> None:
        """A hint that `examine(mailbox)` comes next, and then `flags(last,
        changed_since=modseq)` if `changed_flags` (last, modseq) is given: a source may
        begin them now (ImapSource sends them, so the server's work and a far link's round
        trips overlap the caller's) or ignore it."""

    def uids(self, first: int = 1) -> list[int]:
        """Every UID from `first` on."""

    def flags(self, last: int, *, changed_since: int | None = None,
              ) -> Iterator[tuple[int, tuple[str, ...]]]:
        """(UID, flags) up to UID `last`; only those changed after `changed_since` where the
        source can tell (CONDSTORE), else all."""

    def headers(self, uids: Sequence[int]) -> Iterator[SourceHeader]: ...

    def messages(self, uids: Sequence[int], *, max_size: int) -> Iterator[SourceMessage]:
        """Bodies, one at a time; a body above `max_size` is not read (`too_large`)."""

    def close(self) -> None:
        """Drop the connection (a broken one, or a stream abandoned half way)."""

    def logout(self) -> None: ...


def flags_asked(state: FolderState) -> tuple[int, int | None]:
    """What a folder's sync asks the source first (FolderSync._sync_flags), from the state
    the last run left: the flags of UIDs up to the last one copied, changed since the
    mod-sequence then (None: all of them). SessionPair.examine_ahead asks it ahead."""
    return state.src_uidnext - 1, state.src_highestmodseq


@dataclass(frozen=True)
class SourceOpener:
    """Opens a MessageSource; `name` identifies it in the state database (no secrets)."""

    name: str
    open: Callable[[SessionLimits], MessageSource]


def imap_source(account: Account) -> SourceOpener:
    def open_session(limits: SessionLimits) -> MessageSource:
        from mailferry.imap import session_for

        return ImapSource(session_for(account, limits=limits))

    return SourceOpener(str(account.endpoint), open_session)


def uid_chunks(uids: Sequence[int]) -> Iterator[bytes]:
    """UID sets for ascending `uids`, each short enough for one command line."""
    start = 0
    while start < len(uids):
        end = len(uids)
        text = uid_set(uids[start:end])
        while len(text) > UID_SET_CHUNK and end - start > 1:
            end = start + max(1, (end - start) // 2)
            text = uid_set(uids[start:end])
        yield text
        start = end


class ImapSource:
    """A MessageSource over one IMAP session: BODY.PEEK and EXAMINE, never a change."""

    def __init__(self, session: ImapSession) -> None:
        self.session = session
        self._exists = 0  # messages in the folder last examined
        self._examined_uids: list[int] | None = None  # its UIDs, until `uids` takes them

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.session.capabilities

    def list_folders(self, *, at_login: bool = False,
                     ) -> tuple[list[ListEntry], set[bytes], Namespace]:
        return self.session.list_folders(at_login=at_login)

    def status(self, mailbox: bytes) -> dict[str, int]:
        return self.session.status(mailbox)

    def statuses(self, mailboxes: Sequence[bytes]) -> dict[bytes, dict[str, int]]:
        return self.session.statuses(mailboxes)

    def examine(self, mailbox: bytes) -> Selected:
        # the folder's UIDs come in the same round trip: `uids` is asked next
        selected, self._examined_uids = self.session.select_with_uids(mailbox, readonly=True)
        self._exists = selected.exists
        return selected

    def examine_ahead(self, mailbox: bytes, *,
                      changed_flags: tuple[int, int] | None = None) -> None:
        self.session.select_ahead(mailbox, readonly=True, changed_flags=changed_flags)

    def uids(self, first: int = 1) -> list[int]:
        # SEARCH ALL, not "UID n:*": some servers (GNU imap4d) answer the range with an
        # empty SEARCH, which would copy nothing and say so cheerfully. An answer with fewer
        # UIDs than the folder's messages is not taken either.
        every, self._examined_uids = self._examined_uids, None
        if every is None:
            every = self.session.uid_search(b"ALL")
        if len(set(every)) < self._exists:
            raise IncompleteAnswer(f"UID SEARCH ALL returned {len(set(every))} UIDs for a "
                                   f"folder of {self._exists} messages", command="UID SEARCH")
        return sorted(u for u in set(every) if u >= first)

    def flags(self, last: int, *, changed_since: int | None = None,
              ) -> Iterator[tuple[int, tuple[str, ...]]]:
        if last < 1:
            return
        since = changed_since if self.condstore else None
        for item in self.session.uid_fetch(b"1:%d" % last, b"(UID FLAGS)", changedsince=since):
            if item.uid is not None and item.flags is not None:
                yield item.uid, item.flags

    def headers(self, uids: Sequence[int]) -> Iterator[SourceHeader]:
        for chunk in uid_chunks(uids):
            for item in self.session.uid_fetch(
                    chunk, b"(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"):
                if item.uid is None or item.header is None:
                    continue  # an unsolicited update, not an answer
                yield SourceHeader(item.uid, item.flags or (), item.internaldate or "",
                                   item.size, item.header)

    def messages(self, uids: Sequence[int], *, max_size: int) -> Iterator[SourceMessage]:
        # while "auto" compression waits to see how fast the link is, the bodies come in
        # FETCHes of 32, 64, 128... messages (a few round trips more, whatever the folder's
        # size), so that COMPRESS can start between two of them; then in as few as fit
        start, size = 0, FIRST_MEASURED_FETCH
        while start < len(uids) and self.session.measuring_link:
            yield from self._bodies(uids[start:start + size], max_size)
            start, size = start + size, size * 2
        yield from self._bodies(uids[start:], max_size)

    def _bodies(self, uids: Sequence[int], max_size: int) -> Iterator[SourceMessage]:
        for chunk in uid_chunks(uids):
            for item in self.session.uid_fetch(chunk, b"(UID FLAGS INTERNALDATE BODY.PEEK[])",
                                               max_literal=max_size):
                if item.uid is None or (item.body is None and item.oversize is None):
                    continue  # an unsolicited update (`* 3 FETCH (UID 3 FLAGS ...)`)
                size = len(item.body) if item.body is not None else item.oversize or 0
                yield SourceMessage(item.uid, item.flags or (), item.internaldate, item.body,
                                    size)

    def close(self) -> None:
        self.session.close()

    def logout(self) -> None:
        self.session.logout()
