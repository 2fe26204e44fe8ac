"""Mirror mode, the decision (pure: no I/O): which of our target messages follow their source
message to another folder, which are re-paired where they are, which are removed, and
whether a folder's removals stay under the safety cap.

A *departed* message is one mailferry paired with a source message (copied it, or matched it
to a copy already there) whose source message has left its source folder. An *arrival* is a
source message no folder's state knows yet. They are paired by fingerprint, as multisets:
k departed and j arrivals with one fingerprint mean min(k, j) moves and k-j removals. An
arrival in the same target folder (the source renumbered the message) is preferred, so such
a message is re-paired where it is rather than moved out and back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

# folders whose emptying is what users do every day: no cap (a Trash emptied is no accident)
UNCAPPED_SPECIAL_USES = frozenset({"\\Trash", "\\Junk"})


@dataclass(frozen=True)
class Departed:
    folder_id: int  # the state's folder it was recorded in
    source_folder: str  # display names, for the report and the log
    target_folder: str
    target_wire: bytes
    src_uid: int
    tgt_uid: int
    fingerprint: str


@dataclass(frozen=True)
class Arrival:
    source_folder: str
    target_folder: str
    target_wire: bytes
    src_uid: int


@dataclass(frozen=True)
class Move:
    message: Departed
    to: Arrival


@dataclass
class MirrorPlan:
    moves: list[Move] = field(default_factory=list)
    # arrived again in the folder it was in: nothing to do on the target, the row is re-made
    repaired: list[Departed] = field(default_factory=list)
    removals: list[Departed] = field(default_factory=list)


def plan_mirror(departed: Iterable[Departed], arrivals: Iterable[Arrival],
                fingerprints: dict[tuple[bytes, int], str]) -> MirrorPlan:
    """`fingerprints`: (target folder wire, source UID) of each arrival -> its fingerprint."""
    by_fingerprint: dict[str, list[Arrival]] = defaultdict(list)
    for arrival in arrivals:
        key = fingerprints.get((arrival.target_wire, arrival.src_uid))
        if key is not None:
            by_fingerprint[key].append(arrival)
    plan = MirrorPlan()
    for message in sorted(departed, key=lambda d: (d.folder_id, d.src_uid)):
        candidates = by_fingerprint.get(message.fingerprint)
        if not candidates:
            plan.removals.append(message)
            continue
        same = next((a for a in candidates if a.target_wire == message.target_wire), None)
        chosen = same or candidates[0]
        candidates.remove(chosen)
        if same is not None:
            plan.repaired.append(message)
        else:
            plan.moves.append(Move(message, chosen))
    return plan


@dataclass(frozen=True)
class MirrorCap:
    """Above how many removals in one folder a pass stops and asks for --force: `percent` of
    the messages paired in that folder (at least `floor`), or an absolute `count`."""

    percent: float = 10.0
    floor: int = 10
    count: int | None = None

    @classmethod
    def parse(cls, value: str | int) -> MirrorCap:
        """`"10%"` or a number of messages; ValueError otherwise."""
        if isinstance(value, bool):
            raise ValueError("expected a percentage such as \"10%\" or a number of messages")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a number of messages is 0 or more")
            return cls(count=value)
        text = value.strip()
        if text.endswith("%"):
            try:
                percent = float(text[:-1])
            except ValueError:
                percent = -1.0
            if 0 <= percent <= 100:
                return cls(percent=percent)
        elif text.isdigit():
            return cls(count=int(text))
        raise ValueError(f"{value!r}: expected a percentage such as \"10%\" or a number of "
                         "messages")

    def limit(self, paired: int) -> int:
        if self.count is not None:
            return self.count
        return max(self.floor, int(paired * self.percent / 100))

    def describe(self, paired: int) -> str:
        if self.count is not None:
            return f"{self.count} messages"
        return f"{self.limit(paired)} ({self.percent:g}% of {paired}, at least {self.floor})"


@dataclass(frozen=True)
class CapExceeded:
    folder: str
    removals: int
    limit: str

    def __str__(self) -> str:
        return (f"{self.folder}: {self.removals} removals exceed the mirror cap of {self.limit}")


def over_cap(plan: MirrorPlan, paired: dict[int, int], uncapped: set[int],
             cap: MirrorCap) -> list[CapExceeded]:
    """Folders (by state id) whose removals exceed the cap; `paired`: messages paired in each
    folder before the pass, `uncapped`: folders exempt (Trash, Junk)."""
    removals: dict[int, list[Departed]] = defaultdict(list)
    for message in plan.removals:
        removals[message.folder_id].append(message)
    found: list[CapExceeded] = []
    for folder_id, gone in sorted(removals.items()):
        size = paired.get(folder_id, 0)
        if folder_id not in uncapped and len(gone) > cap.limit(size):
            found.append(CapExceeded(gone[0].source_folder, len(gone), cap.describe(size)))
    return found
