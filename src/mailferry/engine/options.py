"""How a copy runs: what the user chose, with defaults measured (docs/imap-client.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailferry.engine.folders import FolderFilters
from mailferry.engine.mirror_plan import MirrorCap
from mailferry.engine.retry import RetryPolicy
from mailferry.imap import SessionLimits

_BATCH_MESSAGES = 100
_NEAR = 0.0125  # seconds of round trip up to which batches keep their size
_FAR_SCALE = 4.0  # at most this many times larger
_GROW_AFTER = 4  # batches of a folder at the base size; then _FAR_SCALE times the messages
_STREAMS_FROM = 20  # batches (of the base size) in a folder from which it uses held streams


@dataclass(frozen=True)
class CopyOptions:
    filters: FolderFilters = field(default_factory=FolderFilters)
    skip_duplicates: bool = False
    # a Gmail-style \All folder holds every message again: "unfiled" copies from it only
    # what no other copied folder holds (archived mail), "copy" copies it whole
    all_mail: str = "unfiled"
    dry_run: bool = False
    # mirror mode (engine/mirror.py): our copies follow their source messages' moves and
    # deletions; above the cap per folder the pass stops unless `force`
    mirror: bool = False
    mirror_cap: MirrorCap = field(default_factory=MirrorCap)
    force: bool = False
    mirror_note: str = ""  # why mirror mode is off for this mailbox (its cutover passed)
    # folders copied at once, each over its own source and target connection (MULTIAPPEND
    # on 4 connections to 4 folders: 2,200-4,400 msgs/s; same folder: no gain)
    workers: int = 4
    # per MULTIAPPEND (None: 100, more to a far target and in a big folder: `batch_limits`)
    batch_messages: int | None = None
    batch_bytes: int = 2 << 20  # bounds memory: at most ~4 batches per worker in flight
    # a folder with `_STREAMS_FROM` batches or more to copy goes through up to this many
    # sessions of its own, each batch held until the one before is answered
    # (engine/appender.py); 1: through the folder's one target session
    append_streams: int = 3
    # a message above this (or the target's APPENDLIMIT) is reported, never read into memory
    max_message_size: int = 256 << 20
    # the retry policy (engine/retry.py): for connecting, preparing and each folder
    retries: int = 6
    backoff: float = 0.5  # seconds, doubled on each retry
    backoff_max: float = 30.0
    suggested_backoff_max: float = 300.0  # a server's own "wait N ms" is honoured up to this
    read_timeout: float = 120.0  # seconds of silence from a server
    command_timeout: float = 300.0  # per command, plus 1 s per 16 KB it transfers
    compress: str = "auto"  # COMPRESS=DEFLATE: auto (where offered, not on loopback), always, never

    def batch_limits(self, round_trip: float | None, *, sent: int = 0) -> tuple[int, int]:
        """(messages, bytes) per MULTIAPPEND to a target `round_trip` seconds away, once the
        folder's first `sent` batches went. Each batch leaves the target idle for one round
        trip (its OK travels back, the next batch out): 19 of them were a third of a 43 MB
        folder's copy 50 ms away (bench/wan_bench.py). So batches grow with the round trip
        beyond 12.5 ms, up to 4x at 50 ms (8 MB: memory stays bounded). And after a folder's
        first 4 batches, near too, to 400 messages within the same bytes: Dovecot spends
        ~50 ms of a 100-message batch of small messages on each MULTIAPPEND's files, index
        and fsync, and 100,000 of them copied in 42.6 s instead of 45.2
        (bench/huge_folder_bench.py); a folder of up to 400 keeps its batches as they were.
        A `batch_messages` chosen is kept."""
        scale = 1.0 if round_trip is None else min(_FAR_SCALE, max(1.0, round_trip / _NEAR))
        messages = (self.batch_messages if self.batch_messages is not None
                    else int(_BATCH_MESSAGES * (_FAR_SCALE if sent >= _GROW_AFTER else scale)))
        return messages, int(self.batch_bytes * scale)

    def streams_for(self, messages: int) -> int:
        """Held streams for a folder with `messages` to copy (0: none). Each costs a login
        and an opening of the folder; a folder of 20 batches or more pays for them."""
        base = self.batch_messages if self.batch_messages is not None else _BATCH_MESSAGES
        wanted = self.append_streams >= 2 and messages >= _STREAMS_FROM * base
        return self.append_streams if wanted else 0

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.backoff, self.backoff_max,
                           self.suggested_backoff_max)

    @property
    def session_limits(self) -> SessionLimits:
        return SessionLimits(read_timeout=self.read_timeout,
                             command_timeout=self.command_timeout,
                             max_literal=self.max_message_size, compress=self.compress)
