"""Shared output helpers: rich progress as a Reporter, tables, JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from mailferry.engine import FolderResult


class ProgressReporter:
    """Progress bar on stderr (only when it is a terminal, so logs and pipes stay clean)."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            TextColumn("[bold]copying"), BarColumn(), MofNCompleteColumn(),
            TextColumn("msgs"), TransferSpeedColumn(), TimeElapsedColumn(),
            console=console, transient=True, disable=not console.is_terminal,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> ProgressReporter:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.__exit__(None, None, None)

    def planned(self, folders: int, messages: int, size: int) -> None:
        self.task = self.bars.add_task("copy", total=messages or None)

    def progress(self, folder: str, messages: int, size: int) -> None:
        if self.task is not None:
            self.bars.update(self.task, advance=messages)

    def folder_finished(self, result: FolderResult) -> None:
        pass


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
