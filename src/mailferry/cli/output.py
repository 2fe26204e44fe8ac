"""Everything the command line prints goes through here: consoles, styles, tables that fall
back to one record per line when they would not fit, progress bars, JSON.

Text is never read as rich markup: every console is made with markup (and highlighting)
off, so a folder "[Gmail]/Sent Mail", a user "[ext]bob" or advice that says "see [check]"
prints as it is. Our own colours are `Text` styles (`styled`), never brackets in strings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from mailferry.engine import FolderResult

Cell = str | Text


def make_console(*, stderr: bool = False) -> Console:
    """A console that prints text as it is (no markup, no highlighting)."""
    return Console(stderr=stderr, markup=False, highlight=False)


def styled(text: object, style: str) -> Text:
    return Text(str(text), style=style)


def line(*parts: Cell) -> Text:
    """One line of plain and styled pieces: `line(styled("failed", "red"), " ", folder)`."""
    return Text.assemble(*parts)


def human_size(size: float) -> str:
    return decimal(int(size))


@dataclass(frozen=True)
class Column:
    name: str
    justify: Literal["left", "right"] = "left"
    wrap: bool = False  # free text (reasons, advice): its own line in the record form


def print_rows(console: Console, title: str, columns: Sequence[Column],
               rows: Sequence[Sequence[Cell]]) -> None:
    """A table when it fits the console's width; otherwise one record per line (its free
    text on indented lines below), so nothing is squeezed to nothing or cut. Piped output
    keeps each line whole (no wrapping), for grep and mail."""
    if _table_fits(console, columns, rows):
        table = Table(title=title)
        for column in columns:
            table.add_column(column.name, justify=column.justify, overflow="fold",
                             no_wrap=not column.wrap)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    soft = not console.is_terminal
    console.print(styled(title, "bold"), soft_wrap=soft)
    for row in rows:
        head = Text(str(row[0]), style="bold")
        facts = [Text.assemble(f"{c.name}: ", cell) for c, cell in zip(columns[1:], row[1:],
                                                                        strict=True)
                 if not c.wrap and str(cell) not in ("", "-")]
        console.print(Text("  ").join([head, *facts]), soft_wrap=soft)
        for column, cell in zip(columns, row, strict=True):
            if column.wrap and str(cell):
                console.print(Text.assemble(f"    {column.name}: ", cell), soft_wrap=soft)


_MIN_WRAPPED = 30  # a free-text column narrower than this reads worse than a record


def _table_fits(console: Console, columns: Sequence[Column],
                rows: Sequence[Sequence[Cell]]) -> bool:
    width = 1 + 3 * len(columns)  # borders and padding
    for n, column in enumerate(columns):
        natural = max([len(column.name), *(Text(str(r[n])).cell_len for r in rows)])
        width += min(natural, _MIN_WRAPPED) if column.wrap else natural
    return width <= console.width


class _Messages(ProgressColumn):
    """'1,204/5,000 msgs' (a count, not kB); a bar counting mailboxes (its `unit`) shows
    the messages copied beside them."""

    def render(self, task: Task) -> Text:
        total = f"{int(task.total):,}" if task.total is not None else "?"
        unit = task.fields.get("unit", "msgs")
        counted = f"{int(task.completed):,}/{total} {unit}"
        if unit != "msgs":
            counted += f" {int(task.fields.get('messages', 0)):,} msgs"
        return Text(counted)


class _MessageRate(ProgressColumn):
    """Messages per second: rich's recent speed, else the average since the bar started."""

    def render(self, task: Task) -> Text:
        messages = task.fields.get("messages", task.completed)
        elapsed = task.elapsed or 0.0
        speed = (task.speed if "unit" not in task.fields else None) or (
            messages / elapsed if elapsed > 0.1 else 0.0)
        return Text(f"{speed:,.0f} msg/s" if speed else "- msg/s")


class _Bytes(ProgressColumn):
    """Bytes copied and their rate, carried in the task's fields (the bar counts messages)."""

    def render(self, task: Task) -> Text:
        done = int(task.fields.get("bytes", 0))
        total = task.fields.get("bytes_total")
        shown = human_size(done) + (f"/{human_size(total)}" if total else "")
        elapsed = task.elapsed or 0
        rate = f" {human_size(done / elapsed)}/s" if elapsed > 0.1 and done else ""
        return Text(shown + rate)


def progress_bars(console: Console) -> Progress:
    """Bars that count messages and show bytes, both rates and the time left; drawn on a
    terminal only, so logs and pipes stay clean."""
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                    _Messages(), _Bytes(), _MessageRate(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def advance(bars: Progress, task: TaskID, messages: int, size: int, *,
            completed: int | None = None) -> None:
    """Count `messages` and `size` bytes on a bar; `completed` advances it by another
    count instead (a bar of mailboxes)."""
    fields = next(t.fields for t in bars.tasks if t.id == task)
    bars.update(task, advance=messages if completed is None else completed,
                bytes=int(fields.get("bytes", 0)) + size,
                messages=int(fields.get("messages", 0)) + messages)


class ProgressReporter:
    """The copy's Reporter: one bar per folder in progress and one overall (messages,
    bytes, rates, time left), on stderr when it is a terminal."""

    def __init__(self, console: Console) -> None:
        self.bars = progress_bars(console)
        self.task: TaskID | None = None
        self.folders: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressReporter:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.__exit__(None, None, None)

    def planned(self, folders: int, messages: int, size: int) -> None:
        self.task = self.bars.add_task("copying", total=messages or None, bytes=0,
                                       bytes_total=size or None)

    def progress(self, folder: str, messages: int, size: int) -> None:
        if self.task is None:
            return
        advance(self.bars, self.task, messages, size)
        task = self.folders.get(folder)
        if task is None:
            task = self.folders[folder] = self.bars.add_task(f"  {folder}", total=None,
                                                             bytes=0)
        advance(self.bars, task, messages, size)

    def folder_finished(self, result: FolderResult) -> None:
        task = self.folders.pop(result.source, None)
        if task is not None:
            self.bars.remove_task(task)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

