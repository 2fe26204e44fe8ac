"""Everything the command line prints goes through here: consoles, styles, tables that fall
back to one record per line when they would not fit, progress bars, JSON.

Text is never read as rich markup: every console is made with markup (and highlighting)
off, so a folder "[Gmail]/Sent Mail", a user "[ext]bob" or advice that says "see [check]"
prints as it is. Our own colours are `Text` styles (`styled`), never brackets in strings.

rich is imported where it is first used, not with this module: a run that prints JSON
never loads it (~20 ms of a 0.15 s no-change `copy --json`, bench/huge_folder_bench.py),
nor does a copy whose stderr cannot show progress bars (`progress_reporter`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rich.console import Console
    from rich.text import Text

    from mailferry.engine import Reporter

Cell: TypeAlias = "str | Text"


def make_console(*, stderr: bool = False) -> Console:
    """A console that prints text as it is (no markup, no highlighting)."""
    from rich.console import Console
    return Console(stderr=stderr, markup=False, highlight=False)


def may_draw_on_stderr() -> bool:
    """False where rich would not take stderr for a terminal, told without importing it:
    not a TTY, and neither TTY_COMPATIBLE nor FORCE_COLOR set. True: rich decides."""
    if os.environ.get("TTY_COMPATIBLE") or os.environ.get("FORCE_COLOR") is not None:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # (no stderr, or closed)
        return False


def progress_reporter() -> AbstractContextManager[Reporter]:
    """The copy's progress bars on stderr (cli/progress.py) where they can be drawn; else
    (stderr a log file or a pipe) a reporter that draws nothing, and rich's progress bars
    and console (~35 ms of imports, most of a small folder's delta) are not loaded."""
    if not may_draw_on_stderr():
        from mailferry.engine import SilentReporter

        return contextlib.nullcontext(SilentReporter())
    from .progress import ProgressReporter

    return ProgressReporter(make_console(stderr=True))


def styled(text: object, style: str) -> Text:
    from rich.text import Text
    return Text(str(text), style=style)


def line(*parts: Cell) -> Text:
    """One line of plain and styled pieces: `line(styled("failed", "red"), " ", folder)`."""
    from rich.text import Text
    return Text.assemble(*parts)


def human_size(size: float) -> str:
    from rich.filesize import decimal
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
    from rich.table import Table
    from rich.text import Text
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
    from rich.text import Text
    width = 1 + 3 * len(columns)  # borders and padding
    for n, column in enumerate(columns):
        natural = max([len(column.name), *(Text(str(r[n])).cell_len for r in rows)])
        width += min(natural, _MIN_WRAPPED) if column.wrap else natural
    return width <= console.width


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

