"""The durable spool: messages on disk before the 250, deliveries tracked per upstream.

The spool owns every file of the relay (docs/relay.md draws the layout and the protocol):

    msg/<spool_id>.msg   one line of JSON (the envelope: sender, recipients per upstream,
                         arrival time), a newline, then the message bytes as relayed
    tmp/, tmp-delivery/  messages being written (by the SMTP side, and DSNs by the
                         delivery side); moved into msg/ only once fsynced
    journal              append-only JSON lines, one per delivery event of a (message,
                         upstream): "try" before talking to it, then "done" (recipients
                         delivered or bounced) or "defer" (attempts, next attempt, error)
    lock, deliver.lock   flock'ed by the relay's SMTP process and its delivery process
    relay.pid            the SMTP process, for `relay flush`
    status.json, delivery-status.json   the two processes' metrics, for `relay status`

Every file that must survive a crash is written by one helper, `_publish` (fsync the
file, rename it into place, fsync the directory): a message before its 250, a DSN, the
compacted journal. Each journal record is one write() on an O_APPEND descriptor, which
the kernel keeps even if the process is killed the next instant; the journal is fsynced
in the background because losing a "done" record to a power cut can only cause a repeat
delivery, never a lost message. A "try" without a "done" or "defer" after it is a delivery
that was in flight at a crash: it is retried and logged as a possible duplicate, because
neither SMTP nor LMTP can ask the upstream whether it already has the message (RFC 1047).
Compaction keeps a "done" record for every upstream that has finished, so a finished
delivery is never repeated, however many restarts come before the message is done.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO

from mailferry.errors import ConfigError
from mailferry.relay.trouble import OnceLog

log = logging.getLogger("mailferry.relay")

PID_FILE = "relay.pid"
STATUS_FILE = "status.json"
DELIVERY_STATUS_FILE = "delivery-status.json"
WRITE_BUFFER = 64 * 1024  # per message being received: what a connection holds in memory


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
    deliveries: dict[str, Delivery] = field(default_factory=dict)  # unfinished, per upstream
    is_bounce: bool = False  # a DSN we generated: never bounced itself
    routed: dict[str, list[str]] = field(default_factory=dict)  # as accepted, per upstream

    def route(self, upstream: str, recipient: str) -> None:
        self.routed.setdefault(upstream, []).append(recipient)
        self.deliveries.setdefault(upstream, Delivery(self.spool_id, upstream, []))
        self.deliveries[upstream].recipients.append(recipient)


def new_spool_id() -> str:
    # sortable by arrival, unique without coordination
    return f"{time.time_ns() // 1000:x}{secrets.token_hex(4)}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(handle: IO[Any], tmp: Path, final: Path) -> None:
    """The one write-then-rename helper: `tmp` (written through `handle`) becomes `final`,
    durably. Only a power cut could show a missing fsync here, so tests record these
    fsync calls instead (the one place where checking a call is right)."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.rename(tmp, final)
    _fsync_dir(final.parent)


class IncomingMessage:
    """A message being written into the spool as its data arrives (so a connection holds
    at most WRITE_BUFFER of it in memory). `commit()` makes it durable: then answer 250.
    A write that fails (disk full) is remembered, the file removed, and `commit()` raises
    it, so the client gets 451 and nothing half-written stays behind."""

    def __init__(self, spool: Spool, message: SpooledMessage, head: bytes) -> None:
        self.message = message
        self.error: OSError | None = None
        self._tmp = spool.tmp_dir / f"{message.spool_id}.msg"
        self._final = spool.msg_dir / self._tmp.name
        envelope = {"from": message.mail_from, "at": message.received_at,
                    "bounce": message.is_bounce, "to": message.routed}
        self._handle: BinaryIO | None = open(self._tmp, "xb", buffering=WRITE_BUFFER)  # noqa: SIM115
        self.write(json.dumps(envelope).encode() + b"\n" + head)

    def write(self, data: bytes | bytearray) -> None:
        if self._handle is None:
            return
        try:
            self._handle.write(data)
        except OSError as exc:
            self.error = exc
            self.abort()

    def commit(self) -> None:
        """Blocking (fsync): call it in a thread."""
        if self.error is not None:
            raise self.error
        assert self._handle is not None
        handle, self._handle = self._handle, None
        try:
            _publish(handle, self._tmp, self._final)
        except OSError:
            handle.close()
            self._tmp.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):  # a full disk may refuse the final flush
                handle.close()
            self._tmp.unlink(missing_ok=True)


class Spool:
    """The on-disk spool, as seen by one of the relay's two processes: the SMTP side
    (`open_for_accept`) stores messages; the delivery side (`open_for_delivery`) keeps
    the journal. Methods block; the relay calls the slow ones in a thread."""

    def __init__(self, root: Path, *, tmp_name: str = "tmp") -> None:
        self.root = root
        self.msg_dir = root / "msg"
        self.tmp_dir = root / tmp_name  # one per writer, so neither cleans up the other's
        self.journal_path = root / "journal"
        self.pid_path = root / PID_FILE
        self.status_path = root / STATUS_FILE
        self.delivery_status_path = root / DELIVERY_STATUS_FILE
        self._journal_fd: int | None = None
        self._lock_file: TextIO | None = None
        self._journal_dirty = False
        self._backlog: list[bytes] = []  # records a full disk refused, written in order later
        self._torn = False  # a record was cut short: start the next one on a fresh line
        self.journal_trouble = OnceLog(log, "spool journal not writable")

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
        try:
            self._compact(messages)
        except OSError as exc:  # a full disk: keep appending to the journal as it is
            log.error("journal not compacted (%s); keeping it as it is", exc)
            self._torn = not _ends_with_newline(self.journal_path)
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
        with contextlib.suppress(OSError):
            self.sync()
        if self._backlog:
            log.error("%d journal records could not be written (disk full); their "
                      "deliveries count as possible duplicates at the next start",
                      len(self._backlog))
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- messages ---------------------------------------------------------------------

    def begin(self, message: SpooledMessage, head: bytes = b"") -> IncomingMessage:
        """Start writing a message; raises OSError if the spool cannot take it."""
        return IncomingMessage(self, message, head)

    def store(self, message: SpooledMessage, raw: bytes) -> None:
        """Write the message durably; when this returns the relay may answer 250."""
        incoming = self.begin(message, raw)
        incoming.commit()

    def open_message(self, spool_id: str) -> BinaryIO:
        """The message's bytes as relayed (positioned after the envelope line)."""
        handle = open(self.msg_dir / f"{spool_id}.msg", "rb")  # noqa: SIM115 - caller closes
        handle.readline()
        return handle

    def read_message(self, spool_id: str) -> bytes:
        with self.open_message(spool_id) as handle:
            return handle.read()

    def read_head(self, spool_id: str, limit: int = 256 * 1024) -> bytes:
        """The start of a message, enough for its header (what a DSN quotes)."""
        with self.open_message(spool_id) as handle:
            return handle.read(limit)

    def remove(self, spool_id: str) -> None:
        (self.msg_dir / f"{spool_id}.msg").unlink(missing_ok=True)

    # -- journal ----------------------------------------------------------------------

    def record_try(self, delivery: Delivery) -> None:
        """Raises OSError when it cannot be written: then the delivery must wait, or a
        crash could repeat it without anyone knowing."""
        self._append({"id": delivery.spool_id, "up": delivery.upstream, "ev": "try"},
                     required=True)

    def record_done(self, delivery: Delivery, recipients: list[str]) -> None:
        self._append({"id": delivery.spool_id, "up": delivery.upstream, "ev": "done",
                      "rcpts": recipients})

    def record_defer(self, delivery: Delivery) -> None:
        self._append({"id": delivery.spool_id, "up": delivery.upstream, "ev": "defer",
                      "attempts": delivery.attempts, "next": delivery.next_attempt,
                      "err": delivery.last_error})

    def sync(self) -> None:
        """Write records a full disk held back, and fsync the journal if it changed."""
        if self._backlog:
            with contextlib.suppress(OSError):
                self._write_backlog()
        if self._journal_fd is not None and self._journal_dirty:
            self._journal_dirty = False
            os.fsync(self._journal_fd)

    def _append(self, record: dict[str, Any], *, required: bool = False) -> None:
        """One write() per record. A record the disk refuses waits in memory (in order,
        before any later one) unless `required`: then the caller hears of it."""
        line = json.dumps(record).encode() + b"\n"
        try:
            self._write_backlog()
            self._write(line)
        except OSError as exc:
            self.journal_trouble.failed(exc)
            if required:
                raise
            self._backlog.append(line)
            return
        self.journal_trouble.ok()

    def _write_backlog(self) -> None:
        while self._backlog:
            self._write(self._backlog[0])
            self._backlog.pop(0)

    def _write(self, line: bytes) -> None:
        if self._journal_fd is None:
            self._journal_fd = os.open(self.journal_path,
                                       os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        data = b"\n" + line if self._torn else line
        written = os.write(self._journal_fd, data)
        self._journal_dirty = True
        if written < len(data):  # the disk filled mid-record: that line is garbage
            self._torn = True
            raise OSError(errno.ENOSPC, "journal record cut short")
        self._torn = False

    def _compact(self, messages: dict[str, SpooledMessage]) -> None:
        """Rewrite the journal with one record per (message, upstream): what is left,
        or that it is done (restarts stay fast, and nothing finished is forgotten)."""
        tmp = self.root / "journal.new"
        try:
            handle = open(tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed by _publish
            with contextlib.ExitStack() as on_error:
                on_error.callback(handle.close)
                for message in messages.values():
                    handle.writelines(json.dumps(record) + "\n"
                                      for record in _compacted(message))
                on_error.pop_all()
            _publish(handle, tmp, self.journal_path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    # -- the processes' other files ---------------------------------------------------

    def write_pid(self) -> None:
        self.pid_path.write_text(f"{os.getpid()}\n")

    def remove_pid(self) -> None:
        self.pid_path.unlink(missing_ok=True)

    def read_status(self) -> dict[str, Any]:
        """The SMTP process's last status (metrics of both processes, queue sizes)."""
        return read_json(self.status_path)

    def pending(self) -> dict[str, SpooledMessage]:
        """What is left to deliver, as the journal says (read-only: a relay may run)."""
        return load_state(self.root)

    def running_relay_pid(self) -> int | None:
        """The pid of the relay holding the spool's lock, if one does."""
        try:
            with open(self.root / "lock") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return int(self.pid_path.read_text())
                return None
        except (FileNotFoundError, ValueError):
            return None


def _compacted(message: SpooledMessage) -> Iterator[dict[str, Any]]:
    for upstream, recipients in message.routed.items():
        delivery = message.deliveries.get(upstream)
        if delivery is None:
            yield {"id": message.spool_id, "up": upstream, "ev": "done", "rcpts": recipients}
        else:
            yield {"id": message.spool_id, "up": upstream, "ev": "defer",
                   "attempts": delivery.attempts, "next": delivery.next_attempt,
                   "err": delivery.last_error, "rcpts": delivery.recipients}


def write_json(path: Path, data: object) -> None:
    """Replace `path` atomically: readers never see half a file. (Status only: no fsync,
    a status file lost to a power cut is written again a moment later.)"""
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any]:
    """A status file, or {} when there is none (yet)."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _ends_with_newline(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return True
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"
    except FileNotFoundError:
        return True


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
        message_or_none = messages.get(record.get("id", ""))
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
        for recipient in recipients:
            message.route(upstream, recipient)
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
                record = json.loads(line)
            except ValueError:
                continue  # a record torn by a crash or a full disk: its delivery runs again
            if isinstance(record, dict) and "up" in record and "ev" in record:
                yield record
