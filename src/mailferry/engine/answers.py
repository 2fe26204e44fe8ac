"""A source's answers are checked, not trusted: every UID asked for must come back exactly
once. A UID nobody asked for (UID 0, an unsolicited flag update, a repeat) is not taken as
a message; one that never came makes the answer incomplete, so the folder is tried again
and its high-water mark does not move past the gap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

from mailferry.errors import IncompleteAnswer

log = logging.getLogger("mailferry.copy")


class _HasUid(Protocol):
    @property
    def uid(self) -> int: ...


T = TypeVar("T", bound=_HasUid)


def _uids_text(uids: Sequence[int]) -> str:
    shown = ", ".join(str(u) for u in uids[:10])
    return shown + (f" and {len(uids) - 10} more" if len(uids) > 10 else "")


class AnswerCheck:
    """Filters the answers to one request; `finish` says whether every UID came once."""

    def __init__(self, asked: Sequence[int], *, what: str) -> None:
        self.asked = len(asked)
        self.what = what
        self.waiting = set(asked)
        self.taken: set[int] = set()
        self.repeated: set[int] = set()

    def take(self, answers: Iterable[T]) -> Iterator[T]:
        for answer in answers:
            uid = answer.uid
            if uid in self.waiting:
                self.waiting.discard(uid)
                self.taken.add(uid)
                yield answer
            elif uid in self.taken:
                self.repeated.add(uid)
            else:
                log.warning("%s: ignored an answer for UID %d, which was not asked for",
                            self.what, uid)

    def finish(self) -> None:
        """IncompleteAnswer if a UID is missing or came more than once."""
        problem = self.problem()
        if problem is not None:
            raise problem

    def problem(self) -> IncompleteAnswer | None:
        problems = []
        if self.waiting:
            missing = sorted(self.waiting)
            problems.append(f"UID {_uids_text(missing)} not returned ({len(missing)} of "
                            f"{self.asked} asked for)")
        if self.repeated:
            problems.append(f"UID {_uids_text(sorted(self.repeated))} returned more than once")
        if not problems:
            return None
        return IncompleteAnswer("the source's answer is incomplete: " + "; ".join(problems),
                                command=self.what)


def checked(answers: Iterable[T], asked: Sequence[int], *, what: str) -> Iterator[T]:
    """The answers to UIDs in `asked`, each at most once; IncompleteAnswer at the end if one
    is missing or came more than once (those before the gap were handed on, and count)."""
    check = AnswerCheck(asked, what=what)
    yield from check.take(answers)
    check.finish()
