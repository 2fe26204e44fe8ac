"""Which messages move, by age and size (imapsync's --maxage/--minage/--maxsize): decided
on each message's INTERNALDATE and RFC822.SIZE as the source reports them, so what is left
out is exact, and the same rule in `copy` and `verify` (verify does not call a message that
was left out "missing").

Ages are whole days before `now`, the moment the run started: `max_age = 30` keeps mail
that arrived in the last 30 days (INTERNALDATE >= now - 30 days), `min_age = 30` keeps mail
at least 30 days old (INTERNALDATE < now - 30 days), `max_size` keeps messages of at most
that many bytes. A message whose date or size the source does not give is kept (never
dropped on a guess).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


def parse_internaldate(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text.strip().strip('"'), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


@dataclass(frozen=True)
class MessageFilter:
    max_age: float | None = None  # days
    min_age: float | None = None  # days
    max_size: int | None = None  # bytes
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def active(self) -> bool:
        return self.max_age is not None or self.min_age is not None or self.max_size is not None

    def keeps(self, internaldate: str | None, size: int | None) -> bool:
        if self.max_size is not None and size is not None and size > self.max_size:
            return False
        if self.max_age is None and self.min_age is None:
            return True
        when = parse_internaldate(internaldate or "")
        if when is None:
            return True
        age = self.now - when
        if self.max_age is not None and age > dt.timedelta(days=self.max_age):
            return False
        return not (self.min_age is not None and age < dt.timedelta(days=self.min_age))

    def describe(self) -> str:
        """'older than 30 days, larger than 25.0 MB', for reports."""
        parts = []
        if self.max_age is not None:
            parts.append(f"older than {self.max_age:g} days")
        if self.min_age is not None:
            parts.append(f"newer than {self.min_age:g} days")
        if self.max_size is not None:
            parts.append(f"larger than {self.max_size} bytes")
        return ", ".join(parts)
