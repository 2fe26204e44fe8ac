"""How a copy runs: what the user chose, with defaults measured on DESIGN.md's machine class."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailferry.engine.folders import FolderFilters


@dataclass(frozen=True)
class CopyOptions:
    filters: FolderFilters = field(default_factory=FolderFilters)
    skip_duplicates: bool = False
    # a Gmail-style \All folder holds every message again: "unfiled" copies from it only
    # what no other copied folder holds (archived mail), "copy" copies it whole
    all_mail: str = "unfiled"
    dry_run: bool = False
    # folders copied at once, each over its own source and target connection (MULTIAPPEND
    # on 4 connections to 4 folders: 2,200-4,400 msgs/s; same folder: no gain)
    workers: int = 4
    batch_messages: int = 100  # per MULTIAPPEND
    batch_bytes: int = 2 << 20  # bounds memory: at most ~3 batches per worker in flight
    retries: int = 6  # per folder, for dropped connections and "try again later"
    backoff: float = 0.5  # seconds, doubled on each retry
    backoff_max: float = 30.0
