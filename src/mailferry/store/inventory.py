"""What each source mailbox holds before anything is copied (`mailferry inventory`), so
waves can be sized: per folder, messages and bytes. Own table beside the project's (older
state files gain it as it is); one row per source user, replaced by each inventory.

    project_inventory   source_user, when it was taken, how it was counted (STATUS SIZE
                        or FETCH RFC822.SIZE), the totals of the folders the copy would
                        take, the error in the server's words if it could not be taken,
                        and every folder as JSON (with why [filters] leave it out)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailferry.store.tables import inventories


@dataclass(frozen=True)
class FolderSize:
    name: str  # the folder's name as users write it ("Projects/2024")
    messages: int
    bytes: int
    excluded: str = ""  # why [filters] leave it out of the copy ("" = copied)


@dataclass(frozen=True)
class MailboxInventory:
    source_user: str
    taken_at: float
    method: str  # "STATUS SIZE" (RFC 8438) or "FETCH RFC822.SIZE"
    folders: tuple[FolderSize, ...] = ()
    error: str | None = None  # could not be taken: the server's words

    @property
    def copied_folders(self) -> tuple[FolderSize, ...]:
        return tuple(f for f in self.folders if not f.excluded)

    @property
    def messages(self) -> int:
        """What the copy would take: the folders [filters] do not leave out."""
        return sum(f.messages for f in self.copied_folders)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.copied_folders)

    def to_json(self) -> dict[str, Any]:
        return {"taken_at": self.taken_at, "method": self.method, "error": self.error,
                "folders": len(self.copied_folders), "messages": self.messages,
                "bytes": self.bytes,
                "all_folders": [{"name": f.name, "messages": f.messages, "bytes": f.bytes,
                                 "excluded": f.excluded} for f in self.folders]}


def put_inventory(conn: Connection, inventory: MailboxInventory) -> None:
    values = dict(taken_at=inventory.taken_at, method=inventory.method,
                  folders=len(inventory.copied_folders), messages=inventory.messages,
                  bytes=inventory.bytes, error=inventory.error,
                  detail=json.dumps([[f.name, f.messages, f.bytes, f.excluded]
                                     for f in inventory.folders], ensure_ascii=False))
    table = inventories.c
    updated = conn.execute(inventories.update().where(
        table.source_user == inventory.source_user).values(**values))
    if updated.rowcount == 0:
        conn.execute(inventories.insert().values(source_user=inventory.source_user, **values))


def read_inventories(conn: Connection) -> dict[str, MailboxInventory]:
    out = {}
    for row in conn.execute(sa.select(inventories)).mappings():
        folders = tuple(FolderSize(name, messages, size, excluded)
                        for name, messages, size, excluded in json.loads(row["detail"]))
        out[row["source_user"]] = MailboxInventory(row["source_user"], row["taken_at"],
                                                   row["method"], folders, row["error"])
    return out
