"""`mailferry backup`: fetch what is new since the last run into the backup directory.

Per folder: one STATUS tells an untouched folder; otherwise new UIDs are streamed (one
message in memory at a time) into Maildir files, written in tmp/ and renamed into cur/.
Every batch is made durable before the manifest mentions it: the files are fsynced (in a
few threads, so the journal commits them together), then their directories, then the
manifest is appended and committed. A crash (SIGKILL) at any moment leaves at most files
the manifest does not name; the next run deletes those and fetches them again.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailferry.backup.codec import Codec
from mailferry.backup.layout import (
    folder_dir,
    fsync_path,
    mailbox_dir_name,
    message_file_name,
    parse_file_name,
    parse_imap_date,
)
from mailferry.backup.manifest import FolderRecord, MessageRecord
from mailferry.backup.store import MailboxBackup
from mailferry.engine import Folder, folders_from_listing
from mailferry.imap import Account, FetchItem, ImapSession, session_for
from mailferry.status import FolderStatus

BATCH_MESSAGES = 200
BATCH_BYTES = 32 << 20
FETCH_ITEMS = b"(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"


@dataclass
class FolderBackup:
    folder: str
    status: FolderStatus = FolderStatus.SYNCED  # or UNCHANGED
    fetched: int = 0
    bytes: int = 0
    flags_updated: int = 0
    total: int = 0


@dataclass
class BackupSummary:
    source: str
    directory: str
    folders: list[FolderBackup] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, attribute: str) -> int:
        return sum(int(getattr(f, attribute)) for f in self.folders)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "directory": self.directory,
                "seconds": round(self.seconds, 3), "fetched": self.total("fetched"),
                "bytes": self.total("bytes"), "messages": self.total("total"),
                "folders": [vars(f) for f in self.folders]}


def backup_mailbox(account: Account, root: Path, codec: Codec) -> BackupSummary:
    started = time.monotonic()
    directory = root / mailbox_dir_name(account.credentials.user, account.endpoint.host)
    session = session_for(account)
    try:
        backup = MailboxBackup.open_or_create(directory, str(account.endpoint), codec)
        summary = BackupSummary(str(account.endpoint), str(directory))
        backup.manifest.open_for_append()
        try:
            entries, subscribed, namespace = session.list_folders()
            for folder in folders_from_listing(entries, subscribed, namespace):
                if folder.selectable:
                    summary.folders.append(_FolderRun(session, backup, folder).run())
        finally:
            backup.manifest.close()
    finally:
        session.logout()
    summary.seconds = time.monotonic() - started
    return summary


class _FolderRun:
    def __init__(self, session: ImapSession, backup: MailboxBackup, folder: Folder) -> None:
        self.session = session
        self.backup = backup
        self.folder = folder
        self.record = backup.manifest.folders.get(folder.path) or FolderRecord(folder.path)
        self.directory = folder_dir(backup.directory, folder.path)
        self.result = FolderBackup(folder.display)

    def run(self) -> FolderBackup:
        status = self.session.status(self.folder.wire)
        self.result.total = len(self.record.messages)
        known = (self.record.uidvalidity, self.record.uidnext, self.record.highestmodseq)
        if "CONDSTORE" in self.session.capabilities and self.record.uidvalidity and known == (
                status.get("UIDVALIDITY"), status.get("UIDNEXT"), status.get("HIGHESTMODSEQ")):
            self.result.status = FolderStatus.UNCHANGED
            return self.result
        selected = self.session.select(self.folder.wire, readonly=True)
        if selected.uidvalidity != self.record.uidvalidity:
            self.record = FolderRecord(self.folder.path)  # a new generation: fetch it all
        for sub in ("cur", "new", "tmp"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self._remove_orphans()
        updates = self._flag_updates(selected.uidvalidity) if self.record.messages else []
        self.backup.manifest.commit(updates)
        self.result.flags_updated = len(updates)
        for batch in self._batches(selected.uidvalidity):
            self._commit(batch)
        folder = FolderRecord(self.folder.path, selected.uidvalidity,
                              max(selected.uidnext or 0, self.record.max_uid + 1),
                              selected.highestmodseq, self.folder.special_use,
                              self.folder.subscribed)
        self.backup.manifest.commit([folder.to_json()])
        self.result.total = len(self.backup.manifest.folders[self.folder.path].messages)
        return self.result

    def _remove_orphans(self) -> None:
        """Files no committed record names: left by a run killed before its commit. One that
        is a committed message's file under new flags (a run killed between renaming it and
        committing the flags) is renamed back, and its flags are updated again; the others
        are deleted."""
        named = {m.file for m in self.backup.manifest.all_messages()}
        renamed_away = {parse_file_name(Path(m.file).name): m.file
                        for m in self.record.messages.values()
                        if not (self.backup.directory / m.file).exists()}
        for sub in ("cur", "tmp"):
            for entry in os.scandir(self.directory / sub):
                relative = str(Path(entry.path).relative_to(self.backup.directory))
                if relative in named:
                    continue
                key = parse_file_name(entry.name)
                if sub == "cur" and key in renamed_away:
                    os.replace(entry.path, self.backup.directory / renamed_away.pop(key))
                elif sub == "tmp" or key:
                    os.unlink(entry.path)

    def _flag_updates(self, uidvalidity: int) -> list[dict[str, Any]]:
        """Flags changed on the source since the last run: rename the file, record them."""
        updates: list[dict[str, Any]] = []
        spec = b"1:%d" % self.record.max_uid
        for item in self.session.uid_fetch(spec, b"(UID FLAGS)"):
            message = self.record.messages.get(item.uid or 0)
            flags = _flags(item)
            if message is None or sorted(flags) == sorted(message.flags):
                continue
            name = message_file_name(uidvalidity, message.uid, self.backup.codec.suffix, flags)
            new_file = str(Path(message.file).parent / name)
            if new_file != message.file:
                os.replace(self.backup.directory / message.file, self.backup.directory / new_file)
            updates.append({"type": "flags", "folder": list(self.folder.path),
                            "uid": message.uid, "flags": flags, "file": new_file})
        if updates:
            fsync_path(self.directory / "cur")
        return updates

    def _batches(self, uidvalidity: int) -> Iterator[list[tuple[MessageRecord, Path]]]:
        batch: list[tuple[MessageRecord, Path]] = []
        size = 0
        first = self.record.max_uid + 1
        for item in self.session.uid_fetch(b"%d:*" % first, FETCH_ITEMS):
            if (item.uid or 0) < first:  # "N:*" returns the highest UID even below N
                continue
            batch.append(self._write(item, uidvalidity))
            size += len(item.body or b"")
            if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _write(self, item: FetchItem, uidvalidity: int) -> tuple[MessageRecord, Path]:
        assert item.uid is not None
        body = item.body or b""
        flags = _flags(item)
        name = message_file_name(uidvalidity, item.uid, self.backup.codec.suffix, flags)
        tmp, final = self.directory / "tmp" / name, self.directory / "cur" / name
        with open(tmp, "wb") as handle:
            handle.write(self.backup.codec.encode(body))
        os.replace(tmp, final)
        when = _epoch(item.internaldate)
        if when is not None:
            os.utime(final, (when, when))
        self.result.fetched += 1
        self.result.bytes += len(body)
        record = MessageRecord(self.folder.path, uidvalidity, item.uid, len(body),
                               hashlib.sha256(body).hexdigest(), flags, item.internaldate or "",
                               str(final.relative_to(self.backup.directory)))
        return record, final

    def _commit(self, batch: list[tuple[MessageRecord, Path]]) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(fsync_path, [path for _, path in batch]))
        fsync_path(self.directory / "cur")
        self.backup.manifest.commit([record.to_json() for record, _ in batch])


def _flags(item: FetchItem) -> list[str]:
    return sorted({f for f in item.flags or () if f.lower() != "\\recent"}, key=str.lower)


def _epoch(internaldate: str | None) -> float | None:
    when = parse_imap_date(internaldate or "")
    return when.timestamp() if when else None
