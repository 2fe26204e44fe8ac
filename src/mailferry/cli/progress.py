"""Progress bars: messages, bytes, both rates and the time left, drawn on a terminal only.

Apart from output.py because rich.progress is a fifth of the start-up of a no-change re-run,
which draws no bar: commands import this when there is work to show.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from mailferry.engine import FolderResult

from .output import human_size


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
