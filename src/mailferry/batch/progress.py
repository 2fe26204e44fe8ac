"""Live progress of a batch, written to the project state every few seconds, so a dashboard
(on this machine or another, reading the same store) sees messages move while mailboxes
are being copied, and not only when each one finishes."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass

from mailferry.engine import FolderResult, Reporter
from mailferry.store import MailboxProgress, ProjectState

SAMPLE_SECONDS = 2.0


@dataclass
class _Pass:
    started_at: float
    planned: int = 0
    copied: int = 0
    bytes: int = 0
    finished: bool = False  # written once more, then forgotten


class ProgressTracker:
    """Counts what the engine reports per mailbox (from lane threads) and writes a sample
    (deltas since the last one, and the passes in progress) when `tick` finds it due."""

    def __init__(self, state: ProjectState) -> None:
        self.state = state
        self.runner = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.Lock()
        self._passes: dict[str, _Pass] = {}
        self._changed: set[str] = set()
        self._messages = self._bytes = 0
        self._last = 0.0

    def watch(self, source_user: str, reporter: Reporter) -> Reporter:
        """The engine reporter for a mailbox's pass: counts, then passes events on."""
        with self._lock:
            self._passes[source_user] = _Pass(time.time())
            self._changed.add(source_user)
        return _Counting(self, source_user, reporter)

    def finished(self, source_user: str) -> None:
        with self._lock:
            self._passes[source_user].finished = True
            self._changed.add(source_user)

    def count_planned(self, source_user: str, messages: int) -> None:
        with self._lock:
            self._passes[source_user].planned = messages
            self._changed.add(source_user)

    def count_copied(self, source_user: str, messages: int, size: int) -> None:
        with self._lock:
            current = self._passes[source_user]
            current.copied += messages
            current.bytes += size
            self._messages += messages
            self._bytes += size
            self._changed.add(source_user)

    def tick(self, *, force: bool = False) -> None:
        """Write a sample if one is due (every SAMPLE_SECONDS), or now with `force`."""
        now = time.monotonic()
        if not force and now - self._last < SAMPLE_SECONDS:
            return
        self._last = now
        with self._lock:
            passes = [MailboxProgress(user, p.started_at, p.planned, p.copied, p.bytes)
                      for user, p in self._passes.items() if user in self._changed]
            messages, size = self._messages, self._bytes
            self._messages = self._bytes = 0
            self._changed.clear()
            self._passes = {user: p for user, p in self._passes.items() if not p.finished}
        self.state.record_progress(self.runner, passes, messages, size)


class _Counting:
    def __init__(self, tracker: ProgressTracker, source_user: str, inner: Reporter) -> None:
        self.tracker = tracker
        self.source_user = source_user
        self.inner = inner

    def planned(self, folders: int, messages: int, size: int) -> None:
        self.tracker.count_planned(self.source_user, messages)
        self.inner.planned(folders, messages, size)

    def progress(self, folder: str, messages: int, size: int) -> None:
        self.tracker.count_copied(self.source_user, messages, size)
        self.inner.progress(folder, messages, size)

    def folder_finished(self, result: FolderResult) -> None:
        self.inner.folder_finished(result)
