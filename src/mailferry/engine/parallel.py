"""Two pieces of work at once, each waiting on its own server (the source's and the target's
round trips overlap: over a long link that halves what a login or a folder's opening costs)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")


def both(first: Callable[[], A], second: Callable[[], B],
         cleanup: Callable[[A | B], object]) -> tuple[A, B]:
    """`first()` here and `second()` on a thread, at once; the first's error wins (the
    source's is reported before the target's, as when they ran one after the other). What
    one of them opened is handed to `cleanup` when the other failed."""
    done: list[B] = []
    failed: list[BaseException] = []

    def run_second() -> None:
        try:
            done.append(second())
        except BaseException as exc:  # re-raised on the caller's thread below
            failed.append(exc)

    thread = threading.Thread(target=run_second, name="second-side", daemon=True)
    thread.start()
    try:
        result = first()
    except Exception:
        thread.join()
        for opened in done:
            cleanup(opened)
        raise
    # (an interrupt goes up at once: the daemon thread may wait out a connect timeout)
    thread.join()
    if failed:
        cleanup(result)
        raise failed[0]
    return result, done[0]
