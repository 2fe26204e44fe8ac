"""A MessageSource over local messages (a backup, an mbox file, a Maildir), so restore and
import go through the copy engine with all its guarantees instead of a second copy path.

Folders and UIDs are fixed when the source is opened; bodies are read one at a time, when
`messages` reaches them, so memory stays bounded by the largest message. A message whose
bytes cannot be read as recorded (UnreadableMessage, or an OSError) is handed on with its
`problem`: that message fails with the reason, the others are copied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from mailferry.engine import SourceHeader, SourceMessage
from mailferry.errors import CommandFailed
from mailferry.imap import ListEntry, Namespace, Selected, encode_name

DELIMITER = "/"


class UnreadableMessage(Exception):
    """A local message whose bytes cannot be given as recorded; the text says why, `kind`
    sorts it (missing | unreadable | corrupt | outside) for `backup --verify`."""

    def __init__(self, message: str, *, kind: str = "unreadable") -> None:
        self.kind = kind
        super().__init__(message)


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot read {exc.filename or 'the message'}: {exc.strerror or exc}"
    return str(exc)


@dataclass(frozen=True)
class LocalMessage:
    uid: int
    flags: tuple[str, ...]
    internaldate: str
    size: int | None  # None: known only once read (then never skipped as too large)
    read: Callable[[], bytes]


@dataclass
class LocalFolder:
    path: tuple[str, ...]
    uidvalidity: int
    messages: list[LocalMessage]  # ascending UIDs
    special_use: str | None = None
    subscribed: bool = True

    @property
    def wire(self) -> bytes:
        if self.path == ("INBOX",):
            return b"INBOX"
        # a '/' inside one name cannot survive a '/'-delimited listing: '_' as copy does
        return encode_name(DELIMITER.join(c.replace(DELIMITER, "_") for c in self.path))

    @property
    def uidnext(self) -> int:
        return (self.messages[-1].uid if self.messages else 0) + 1


class LocalSource:
    """Implements engine.MessageSource over LocalFolders."""

    condstore = False  # flags come whole every time

    def __init__(self, folders: Sequence[LocalFolder], name: str) -> None:
        self.name = name
        self._folders = {f.wire: f for f in folders}
        self._selected: LocalFolder | None = None

    def list_folders(self, *, at_login: bool = False,
                     ) -> tuple[list[ListEntry], set[bytes], Namespace]:
        entries = [ListEntry(f.wire, DELIMITER, frozenset([f.special_use] if f.special_use
                                                           else []))
                   for f in self._folders.values()]
        subscribed = {f.wire for f in self._folders.values() if f.subscribed}
        return entries, subscribed, Namespace(b"", DELIMITER)

    def _folder(self, mailbox: bytes) -> LocalFolder:
        folder = self._folders.get(mailbox)
        if folder is None:
            raise CommandFailed(f"no folder {mailbox!r}", server=self.name, command="SELECT")
        return folder

    def status(self, mailbox: bytes) -> dict[str, int]:
        folder = self._folder(mailbox)
        return {"MESSAGES": len(folder.messages), "UIDNEXT": folder.uidnext,
                "UIDVALIDITY": folder.uidvalidity}

    def statuses(self, mailboxes: Sequence[bytes]) -> dict[bytes, dict[str, int]]:
        return {mailbox: self.status(mailbox) for mailbox in mailboxes}

    def examine(self, mailbox: bytes) -> Selected:
        folder = self._folder(mailbox)
        self._selected = folder
        return Selected(folder.uidvalidity, folder.uidnext, len(folder.messages),
                        frozenset({"\\*"}), None)

    def examine_ahead(self, mailbox: bytes, *,
                      changed_flags: tuple[int, int] | None = None) -> None:
        """Nothing to begin: a local folder opens at once."""

    def _messages(self, uids: Iterable[int] | None = None) -> Iterator[LocalMessage]:
        folder = self._selected
        if folder is None:
            raise CommandFailed("no folder selected", server=self.name, command="UID FETCH")
        if uids is None:
            yield from folder.messages
            return
        wanted = set(uids)
        yield from (m for m in folder.messages if m.uid in wanted)

    def uids(self, first: int = 1) -> list[int]:
        return [m.uid for m in self._messages() if m.uid >= first]

    def flags(self, last: int, *, changed_since: int | None = None,
              ) -> Iterator[tuple[int, tuple[str, ...]]]:
        for message in self._messages():
            if message.uid <= last:
                yield message.uid, message.flags

    def headers(self, uids: Sequence[int]) -> Iterator[SourceHeader]:
        for message in self._messages(uids):
            try:
                raw = message.read()
            except (UnreadableMessage, OSError) as exc:
                yield SourceHeader(message.uid, message.flags, message.internaldate,
                                   message.size, b"", problem=_why(exc))
                continue
            yield SourceHeader(message.uid, message.flags, message.internaldate,
                               len(raw) if message.size is None else message.size, _header(raw))

    def messages(self, uids: Sequence[int], *, max_size: int) -> Iterator[SourceMessage]:
        for message in self._messages(uids):
            if message.size is not None and message.size > max_size:
                yield SourceMessage(message.uid, message.flags, message.internaldate, None,
                                    message.size)
                continue
            try:
                raw = message.read()  # one at a time: memory bounded by the largest message
            except (UnreadableMessage, OSError) as exc:
                yield SourceMessage(message.uid, message.flags, message.internaldate, None,
                                    message.size or 0, problem=_why(exc))
                continue
            yield SourceMessage(message.uid, message.flags, message.internaldate, raw, len(raw))

    def close(self) -> None:
        self._selected = None

    def logout(self) -> None:
        self.close()


def _header(raw: bytes) -> bytes:
    ends = [(pos, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (pos := raw.find(sep)) >= 0]
    if not ends:
        return raw
    pos, length = min(ends)
    return raw[: pos + length]
