"""Waves: which mailboxes move together. The pilot can be drawn automatically, spread
across departments (an admin moving 1,000 users first moved 10 from sales, support,
marketing and development)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from mailferry.errors import ConfigError
from mailferry.project import MailboxUser

UNASSIGNED = ""
PILOT = "pilot"


@dataclass(frozen=True)
class WaveInfo:
    name: str  # "" = not assigned
    users: int
    departments: dict[str, int]


def waves_of(users: Sequence[MailboxUser]) -> list[WaveInfo]:
    """Waves in order of first appearance in users.csv; the unassigned last."""
    by_wave: dict[str, Counter[str]] = {}
    for user in users:
        by_wave.setdefault(user.wave, Counter())[user.department or "-"] += 1
    order = [w for w in by_wave if w != UNASSIGNED] + (
        [UNASSIGNED] if UNASSIGNED in by_wave else [])
    return [WaveInfo(w, sum(by_wave[w].values()), dict(sorted(by_wave[w].items())))
            for w in order]


def draw_pilot(users: Sequence[MailboxUser], size: int, departments: Sequence[str] = (),
               *, seed: int = 0) -> list[MailboxUser]:
    """`size` unassigned users, taken in turn from each department (only `departments` if
    given), so every department is represented before any gets a second user. Deterministic
    for the same users.csv and seed, so a preview and the real draw agree."""
    pool: dict[str, list[MailboxUser]] = defaultdict(list)
    for user in users:
        if user.wave == UNASSIGNED and (not departments or user.department in departments):
            pool[user.department].append(user)
    unknown = [d for d in departments if d not in {u.department for u in users}]
    if unknown:
        raise ConfigError(f"[pilot] departments: no users in {', '.join(unknown)}")
    rng = random.Random(seed)
    for members in pool.values():
        rng.shuffle(members)
    # largest departments first: with a pilot smaller than the department count they matter most
    order = sorted(pool, key=lambda d: (-len(pool[d]), d))
    drawn: list[MailboxUser] = []
    while len(drawn) < size and any(pool.values()):
        for department in order:
            if pool[department] and len(drawn) < size:
                drawn.append(pool[department].pop())
    return drawn
