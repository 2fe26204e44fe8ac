"""The durable spool: messages on disk before the 250, deliveries tracked per upstream.

Layout under the spool directory:

    msg/<spool_id>.msg   one line of JSON (the envelope: sender, recipients per upstream,
                         arrival time), a newline, then the message bytes as relayed
    tmp/, tmp-delivery/  messages being written (by the SMTP side, and DSNs by the
                         delivery side); moved into msg/ only once fsynced
    journal              append-only JSON lines, one per delivery event of a (message,
                         upstream): "try" before talking to it, then "done" (recipients
                         delivered or bounced) or "defer" (attempts, next attempt, error)
    lock, deliver.lock   flock'ed by the relay's SMTP process and its delivery process

A message file is fsynced, renamed into msg/ and the directory fsynced before the relay
answers 250, so a 250 survives kill -9 and power loss. Each journal record is one write()
on an O_APPEND descriptor, which the kernel keeps even if the process is killed the next
instant; the journal is fsynced in the background because losing a "done" record to a
power cut can only cause a repeat delivery, never a lost message. A "try" without a
"done" or "defer" after it is a delivery that was in flight at a crash: it is retried,
and counted as a possible duplicate, because neither SMTP nor LMTP can ask the upstream
whether it already has the message (RFC 1047).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mailferry.errors import ConfigError


@dataclass
class Delivery:
    """What is left to do for one (message, upstream)."""

    spool_id: str
    upstream: str
    recipients: list[str]
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str = ""
    in_flight: bool = False  # a "try" with no outcome yet


@dataclass
class SpooledMessage:
    spool_id: str
    mail_from: str
    received_at: float
    size: int
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    is_bounce: bool = False  # a DSN we generated: never bounced itself


def new_spool_id() -> str:
    # sortable by arrival, unique without coordination
    return f"{time.time_ns() // 1000:x}{secrets.token_hex(4)}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The on-disk spool, as seen by one of the relay's two processes: the SMTP side
    (`open_for_accept`) stores messages; the delivery side (`open_for_delivery`) keeps
    the journal. Methods block; the relay calls the slow ones in a thread."""

    def __init__(self, root: Path, *, tmp_name: str = "tmp") -> None:
        self.root = root
        self.msg_dir = root / "msg"
        self.tmp_dir = root / tmp_name  # one per writer, so neither cleans up the other's
        self.journal_path = root / "journal"
        self._journal_fd: int | None = None
        self._lock_file: TextIO | None = None
        self._journal_dirty = False

    # -- ownership --------------------------------------------------------------------

    def open_for_accept(self) -> None:
        """Take the spool's SMTP side (one relay per spool)."""
        if not self._lock("lock", wait=0):
            raise ConfigError("another relay is using this spool", where=str(self.root))

    def open_for_delivery(self, wait: float) -> dict[str, SpooledMessage] | None:
        """Take the delivery side, waiting up to `wait` seconds for a previous delivery
        process to finish its last attempts; recover the state and compact the journal.
        None if the previous one is still busy."""
        if not self._lock("deliver.lock", wait=wait):
            return None
        messages = load_state(self.root)
        for message in list(messages.values()):
            if not message.deliveries:
                self.remove(message.spool_id)
                del messages[message.spool_id]
        self._compact(messages)
        return messages

    def _lock(self, name: str, wait: float) -> bool:
        for directory in (self.root, self.msg_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.root / name, "a")  # noqa: SIM115 - held until close()
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._lock_file.close()
                    self._lock_file = None
                    return False
                time.sleep(0.05)
        for leftover in self.tmp_dir.iterdir():  # a message that never got its 250
            leftover.unlink()
        return True

    def close(self) -> None:
        self.sync()
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- messages ---------------------------------------------------------------------

    def store(self, message: SpooledMessage, raw: bytes) -> None:
        """Write the message durably; when this returns the relay may answer 250."""
        envelope = {
            "from": message.mail_from, "at": message.received_at, "bounce": message.is_bounce,
            "to": {name: d.recipients for name, d in message.deliveries.items()},
        }
        tmp = self.tmp_dir / f"{message.spool_id}.msg"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, json.dumps(envelope).encode() + b"\n")
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.msg_dir / tmp.name)
        _fsync_dir(self.msg_dir)

    def read_message(self, spool_id: str) -> bytes:
        with open(self.msg_dir / f"{spool_id}.msg", "rb") as handle:
            handle.readline()
            return handle.read()

    def remove(self, spool_id: str) -> None:
        (self.msg_dir / f"{spool_id}.msg").unlink(missing_ok=True)

    # -- journal ----------------------------------------------------------------------

    def record_try(self, delivery: Delivery) -> None:
        self._append({"id": delivery.spool_id, "up": delivery.upstream, "ev": "try"})

    def record_done(self, delivery: Delivery, recipients: list[str]) -> None:
        self._append({"id": delivery.spool_id, "up": delivery.upstream, "ev": "done",
                      "rcpts": recipients})

    def record_defer(self, delivery: Delivery) -> None:
        self._append({"id": delivery.spool_id, "up": delivery.upstream, "ev": "defer",
                      "attempts": delivery.attempts, "next": delivery.next_attempt,
                      "err": delivery.last_error})

    def sync(self) -> None:
        """fsync the journal if records were added since the last sync."""
        if self._journal_fd is not None and self._journal_dirty:
            self._journal_dirty = False
            os.fsync(self._journal_fd)

    def _append(self, record: dict[str, Any]) -> None:
        if self._journal_fd is None:
            self._journal_fd = os.open(self.journal_path,
                                       os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        # one write() per record: the kernel has it even if we are killed right after
        os.write(self._journal_fd, json.dumps(record).encode() + b"\n")
        self._journal_dirty = True

    def _compact(self, messages: dict[str, SpooledMessage]) -> None:
        """Rewrite the journal with only what is still pending (restarts stay fast)."""
        tmp = self.root / "journal.new"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(
                json.dumps({"id": d.spool_id, "up": d.upstream, "ev": "defer",
                            "attempts": d.attempts, "next": d.next_attempt,
                            "err": d.last_error, "rcpts": d.recipients}) + "\n"
                for message in messages.values() for d in message.deliveries.values())
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, self.journal_path)
        _fsync_dir(self.root)


def load_state(root: Path) -> dict[str, SpooledMessage]:
    """Rebuild the pending deliveries from msg/ and the journal (read-only)."""
    messages: dict[str, SpooledMessage] = {}
    msg_dir = root / "msg"
    if not msg_dir.is_dir():
        return messages
    for path in sorted(msg_dir.glob("*.msg")):
        message = read_envelope(path)
        if message is not None:
            messages[message.spool_id] = message
    for record in _journal_records(root / "journal"):
        message_or_none = messages.get(record["id"])
        delivery = message_or_none.deliveries.get(record["up"]) if message_or_none else None
        if message_or_none is None or delivery is None:
            continue
        _apply(delivery, record)
        if not delivery.recipients:
            del message_or_none.deliveries[record["up"]]
    return messages


def read_envelope(path: Path) -> SpooledMessage | None:
    """The message's envelope and deliveries as accepted (before any journal record);
    None if it is gone (delivered meanwhile)."""
    try:
        with open(path, "rb") as handle:
            envelope = json.loads(handle.readline())
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        return None
    spool_id = path.name.removesuffix(".msg")
    message = SpooledMessage(spool_id, envelope["from"], envelope["at"], size,
                             is_bounce=envelope.get("bounce", False))
    for upstream, recipients in envelope["to"].items():
        if recipients:
            message.deliveries[upstream] = Delivery(spool_id, upstream, list(recipients))
    return message


def _apply(delivery: Delivery, record: dict[str, Any]) -> None:
    event = record["ev"]
    if event == "try":
        delivery.in_flight = True
    elif event == "done":
        finished = set(record["rcpts"])
        delivery.recipients = [r for r in delivery.recipients if r not in finished]
        delivery.in_flight = False
    elif event == "defer":
        delivery.attempts = record["attempts"]
        delivery.next_attempt = record["next"]
        delivery.last_error = record["err"]
        if "rcpts" in record:  # a compacted journal carries what is left
            delivery.recipients = [r for r in delivery.recipients if r in set(record["rcpts"])]
        delivery.in_flight = False


def _journal_records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                yield json.loads(line)
            except ValueError:
                continue  # a record torn by a crash: its delivery simply runs again
