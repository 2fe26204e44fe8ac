"""A MessageSource over local messages (a backup, an mbox file, a Maildir), so restore and
import go through the copy engine with all its guarantees instead of a second copy path.

Folders and UIDs are fixed when the source is opened; bodies are read one at a time, when
`uid_fetch` reaches them, so memory stays bounded by the largest message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from mailferry.errors import CommandFailed
from mailferry.imap import FetchItem, ListEntry, Namespace, Selected, encode_name

DELIMITER = "/"


@dataclass(frozen=True)
class LocalMessage:
    uid: int
    flags: tuple[str, ...]
    internaldate: str
    size: int | None  # None: known only once read
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


def parse_uids(spec: bytes, highest: int) -> Callable[[int], bool]:
    """A membership test for an IMAP UID set; "N:*" includes `highest` even below N."""
    ranges: list[tuple[int, int]] = []
    for piece in spec.split(b","):
        low_text, _, high_text = piece.partition(b":")
        low = highest if low_text == b"*" else int(low_text)
        high = low if not high_text else (highest if high_text == b"*" else int(high_text))
        ranges.append((min(low, high), max(low, high)))
    return lambda uid: any(low <= uid <= high for low, high in ranges)


class LocalSource:
    """Implements engine.MessageSource over LocalFolders."""

    capabilities: frozenset[str] = frozenset({"IMAP4REV1", "UIDPLUS"})

    def __init__(self, folders: Sequence[LocalFolder], name: str) -> None:
        self.name = name
        self._folders = {f.wire: f for f in folders}
        self._selected: LocalFolder | None = None

    def list_folders(self) -> tuple[list[ListEntry], set[bytes], Namespace]:
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

    def select(self, mailbox: bytes, *, readonly: bool) -> Selected:
        folder = self._folder(mailbox)
        self._selected = folder
        return Selected(folder.uidvalidity, folder.uidnext, len(folder.messages),
                        frozenset({"\\*"}), None)

    def uid_fetch(self, uids: bytes, items: bytes, *, changedsince: int | None = None,
                  ) -> Iterator[FetchItem]:
        folder = self._selected
        if folder is None:
            raise CommandFailed("no folder selected", server=self.name, command="UID FETCH")
        wanted = items.upper()
        body = b"BODY.PEEK[]" in wanted or b"BODY[]" in wanted
        header = b"BODY.PEEK[HEADER]" in wanted or b"BODY[HEADER]" in wanted
        size = b"RFC822.SIZE" in wanted
        member = parse_uids(uids, folder.uidnext - 1)
        for seq, message in enumerate(folder.messages, 1):
            if not member(message.uid):
                continue
            raw = message.read() if body or header or (size and message.size is None) else b""
            yield FetchItem(seq, message.uid, message.flags, message.internaldate,
                            len(raw) if message.size is None else message.size,
                            body=raw if body else None,
                            header=_header(raw) if header else None)

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
