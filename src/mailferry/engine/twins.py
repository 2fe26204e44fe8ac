"""A copy of ours that the relay's own delivery caught up with.

During dual delivery the relay hands each message to the old and to the new server on its
own schedule. When a sync copies the old server's copy before the new server's has arrived
(its delivery was slower, deferred, or came just after the target was looked at), the target
later holds the message twice: our copy and the relay's. The next pass sees the relay's copy
appear; when it is our copy's relayed twin (same header block below the delivery fields,
same body) our copy is retired: its flags move to the relay's copy, it is expunged (by UID:
UIDPLUS only), and the source message is recorded as present in the relay's copy.

Expunged first, recorded after: a crash in between leaves our copy gone and its mapping
pointing at nothing, so the next pass pairs the source message with the relay's copy again
instead of keeping a stale duplicate.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from mailferry.engine.target import target_body_digests
from mailferry.imap import ImapSession, uid_set
from mailferry.status import MessageOutcome
from mailferry.store import ForeignMessage, MappedMessage

if TYPE_CHECKING:
    from mailferry.store import StateStore


def relayed_twin_pairs(mapped: dict[int, MappedMessage], foreign: dict[int, ForeignMessage],
                       present: set[int]) -> list[tuple[MappedMessage, int]]:
    """(our copy, target UID of a foreign message with its relayed fingerprint), paired as
    multisets, lowest UIDs first."""
    ours: dict[str, list[MappedMessage]] = defaultdict(list)
    for message in sorted(mapped.values(), key=lambda m: m.tgt_uid or 0):
        if (message.outcome == MessageOutcome.COPIED and message.relayed is not None
                and message.tgt_uid in present):
            ours[message.relayed].append(message)
    pairs: list[tuple[MappedMessage, int]] = []
    for uid in sorted(foreign):
        relayed = foreign[uid].relayed
        if relayed is not None and ours.get(relayed):
            pairs.append((ours[relayed].pop(0), uid))
    return pairs


def retire_copies_with_relayed_twins(target: ImapSession, store: StateStore, folder_id: int,
                                     mapped: dict[int, MappedMessage],
                                     foreign: dict[int, ForeignMessage],
                                     present: set[int]) -> int:
    """Replace our copies by their relayed twins (see the module's docstring); `mapped`,
    `foreign` and `present` are updated. Returns how many were replaced."""
    if "UIDPLUS" not in target.capabilities:
        return 0
    pairs = relayed_twin_pairs(mapped, foreign, present)
    if not pairs:
        return 0
    bodies = target_body_digests(target, [uid for m, uid in pairs] + [m.tgt_uid or 0
                                                                      for m, _ in pairs])
    confirmed = [(m, uid) for m, uid in pairs if m.tgt_uid in bodies and uid in bodies
                 and bodies[m.tgt_uid][0] == bodies[uid][0]]
    if not confirmed:
        return 0
    by_flags: dict[str, list[int]] = defaultdict(list)
    for ours, theirs in confirmed:
        by_flags[bodies[ours.tgt_uid or 0][1]].append(theirs)  # what the user sees carries
    for flags, uids in by_flags.items():
        target.uid_store_flags(uid_set(uids), flags.split())
    retired = [ours.tgt_uid or 0 for ours, _ in confirmed]
    target.uid_expunge(uid_set(retired))
    rows = [replace(ours, tgt_uid=theirs, outcome=MessageOutcome.PRESENT,
                    flags=bodies[ours.tgt_uid or 0][1]) for ours, theirs in confirmed]
    store.record(folder_id, rows, [theirs for _, theirs in confirmed])
    for row in rows:
        mapped[row.src_uid] = row
        del foreign[row.tgt_uid or 0]
    present.difference_update(retired)
    return len(confirmed)
