"""Mirror mode, the pass: before a delta pass copies what is new, the target follows what
the user moved and deleted on the source since the last pass.

Only messages mailferry paired with a source message are ever touched (a row in the state);
a target message it never paired (mail that reached the target another way) is never moved
or removed. The source is only EXAMINEd. Steps, each safe to repeat after a crash:
1. Departed: per recorded folder, its recorded source UIDs against the folder's UIDs now
   (two ascending integer lists, merged: bounded memory for 100,000-message folders). A
   folder the source no longer lists has lost every message; a folder whose UIDVALIDITY
   changed is left to the copy, which re-pairs it by fingerprint (nothing removed).
2. Arrivals: source messages no state knows, fingerprinted from their headers, only when
   something departed. mirror_plan pairs departed and arrivals by fingerprint (moves) and
   checks each folder's removals against the cap; above it nothing is moved or removed.
3. On the target, per folder: UID MOVE (or UID COPY, then \\Deleted and UID EXPUNGE of
   exactly those UIDs: never a bare EXPUNGE), removals by UID EXPUNGE, each logged first
   with folder, Message-ID and date. Then the rows are forgotten. A crash before that
   leaves rows whose target UID is gone (forgotten next time, nothing done twice) or, after
   a COPY, a copy in the destination that the next pass finds by fingerprint and does not
   copy again. The moved message is then paired in its new folder by the copy's inventory,
   as any target message with the fingerprint of a new source message: nothing is
   transferred twice.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailferry.engine.fingerprint import header_block, message_id
from mailferry.engine.folders import FolderPair
from mailferry.engine.matcher import MessageKey
from mailferry.engine.mirror_plan import (
    UNCAPPED_SPECIAL_USES,
    Arrival,
    Departed,
    MirrorPlan,
    over_cap,
    plan_mirror,
)
from mailferry.engine.options import CopyOptions
from mailferry.engine.results import MirrorAction, MirrorReport
from mailferry.engine.source import MessageSource, uid_chunks
from mailferry.errors import CommandFailed, TryAgainLater
from mailferry.imap import ImapSession, decode_name

if TYPE_CHECKING:
    from mailferry.store import StateStore

log = logging.getLogger("mailferry.mirror")
_DATE = re.compile(rb"^date:[ \t]*(.*(?:\n[ \t].*)*)", re.I | re.M)


@dataclass(frozen=True)
class _Name:
    """How a target message is named in the log and the report."""

    message_id: str | None
    date: str | None


def _merge(recorded: Sequence[int], now: Sequence[int]) -> tuple[list[int], list[int]]:
    """(UIDs recorded but gone, UIDs present but not recorded), both lists ascending."""
    gone: list[int] = []
    new: list[int] = []
    i = j = 0
    while i < len(recorded) or j < len(now):
        if j >= len(now) or (i < len(recorded) and recorded[i] < now[j]):
            gone.append(recorded[i])
            i += 1
        elif i >= len(recorded) or now[j] < recorded[i]:
            new.append(now[j])
            j += 1
        else:
            i += 1
            j += 1
    return gone, new


class MirrorPass:
    """One mailbox's mirror pass (see the module's docstring). `pairs`: the folder plan of
    this run; `listed`: every wire name the source lists (a recorded folder missing from it
    was deleted or renamed on the source)."""

    def __init__(self, source: MessageSource, target: ImapSession, store: StateStore,
                 pair_id: int, pairs: Sequence[FolderPair], listed: Collection[bytes],
                 options: CopyOptions, report: MirrorReport | None = None) -> None:
        self.source = source
        self.target = target
        self.store = store
        self.pair_id = pair_id
        self.pairs = {p.source.wire: p for p in pairs if p.source.selectable}
        self.listed = listed
        self.options = options
        self.report = report or MirrorReport(enabled=True)
        self._target_validity: dict[bytes, int | None] = {}  # as recorded, per target folder

    def run(self) -> MirrorReport:
        departed, arrivals, paired, uncapped, recorded = self._departed()
        if not departed:
            return self.report
        fingerprints = self._fingerprints(arrivals, recorded)
        plan = plan_mirror(departed, [a for uids in arrivals.values() for a in uids],
                           fingerprints)
        self.report.repaired = len(plan.repaired)
        exceeded = over_cap(plan, paired, uncapped, self.options.mirror_cap)
        if exceeded and not self.options.force:
            if self.options.dry_run:
                self._carry_out(plan)  # lists what a pass with --force would do
            self.report.stopped = (
                "; ".join(str(e) for e in exceeded) + f" ({len(plan.moves)} moves and "
                f"{len(plan.removals)} removals in all): nothing was moved or removed; if the "
                "source really lost these messages, run again with --force")
            log.warning("mirror pass stopped: %s", self.report.stopped)
            return self.report
        self._carry_out(plan)
        return self.report

    # -- step 1 ----------------------------------------------------------------------------

    def _departed(self) -> tuple[list[Departed], dict[bytes, list[Arrival]], dict[int, int],
                                 set[int], set[bytes]]:
        departed: list[Departed] = []
        arrivals: dict[bytes, list[Arrival]] = {}
        paired: dict[int, int] = {}
        uncapped: set[int] = set()
        recorded: set[bytes] = set()  # source folders with a state this pass compared
        for state in self.store.folders_of(self.pair_id):
            self._target_validity[state.target_name] = state.tgt_uidvalidity
            pair = self.pairs.get(state.source_name)
            if pair is None and state.source_name in self.listed:
                continue  # excluded now, or not selectable: not mirrored
            if pair is not None and pair.target_wire != state.target_name:
                continue  # goes to another folder now: its state starts over
            recorded_uids = self.store.mapped_uids(state.id)
            paired[state.id] = len(recorded_uids)
            if pair is None:  # the source no longer has this folder
                gone = recorded_uids
                source_name = decode_name(state.source_name)
                target_name = decode_name(state.target_name)
            else:
                recorded.add(pair.source.wire)
                selected = self.source.examine(pair.source.wire)
                if selected.uidvalidity == state.src_uidvalidity:
                    gone, new = _merge(recorded_uids, self.source.uids())
                else:  # every UID is new: re-paired by fingerprint first, the rest capped
                    self._note(f"{pair.source.display}: UIDVALIDITY changed on the source; "
                               "its messages are paired again by fingerprint")
                    gone, new = recorded_uids, self.source.uids()
                source_name, target_name = pair.source.display, pair.target_display
                if pair.source.special_use in UNCAPPED_SPECIAL_USES:
                    uncapped.add(state.id)
                arrivals[pair.source.wire] = [
                    Arrival(source_name, target_name, pair.target_wire, uid) for uid in new]
            rows = self.store.mapped_rows(state.id, gone)
            departed.extend(Departed(state.id, source_name, target_name, state.target_name,
                                     m.src_uid, m.tgt_uid, m.fingerprint)
                            for m in rows if m.tgt_uid is not None)
            # rows without a target message (skipped duplicates): nothing to follow
            if not self.options.dry_run:
                self.store.forget_source_uids(state.id, [m.src_uid for m in rows
                                                         if m.tgt_uid is None])
        return departed, arrivals, paired, uncapped, recorded

    def _note(self, text: str) -> None:
        self.report.note = f"{self.report.note}; {text}" if self.report.note else text
        log.info("mirror: %s", text)

    # -- step 2 ----------------------------------------------------------------------------

    def _fingerprints(self, arrivals: dict[bytes, list[Arrival]], recorded: set[bytes],
                      ) -> dict[tuple[bytes, int], str]:
        """Fingerprints of every arrival: new messages of the recorded folders, every
        message of folders without a state (new on the source)."""
        for wire, pair in self.pairs.items():
            if wire not in recorded:
                self.source.examine(wire)
                arrivals[wire] = [Arrival(pair.source.display, pair.target_display,
                                          pair.target_wire, uid) for uid in self.source.uids()]
        found: dict[tuple[bytes, int], str] = {}
        for wire, items in arrivals.items():
            if not items:
                continue
            self.source.examine(wire)
            by_uid = {a.src_uid: a for a in items}
            for header in self.source.headers(sorted(by_uid)):
                arrival = by_uid.get(header.uid)
                if arrival is not None:
                    found[(arrival.target_wire, arrival.src_uid)] = MessageKey.of(
                        header.header).exact
        return found

    # -- step 3 ----------------------------------------------------------------------------

    def _carry_out(self, plan: MirrorPlan) -> None:
        dry_run = self.options.dry_run
        by_folder: dict[bytes, list[Departed]] = defaultdict(list)
        for message in [m.message for m in plan.moves] + plan.removals + plan.repaired:
            by_folder[message.target_wire].append(message)
        destination = {id(m.message): m.to for m in plan.moves}  # tgt UIDs repeat across folders
        moving = {id(m.message) for m in plan.moves}
        removing = {id(m) for m in plan.removals}
        can_move = "MOVE" in self.target.capabilities
        exact_expunge = "UIDPLUS" in self.target.capabilities
        if not exact_expunge and (plan.removals or (plan.moves and not can_move)):
            self._note("the target has no UIDPLUS (UID EXPUNGE): messages that would need an "
                       "expunge are left in place")
        for wire, messages in by_folder.items():
            waiting = Counter[tuple[bytes, str]]()
            if not can_move and exact_expunge and not dry_run:
                waiting = self._unpaired_in(
                    {destination[id(m)].target_wire for m in messages if id(m) in moving})
            try:
                selected = self.target.select(wire, readonly=dry_run)
            except TryAgainLater:
                raise
            except CommandFailed:  # the target folder is gone: nothing of ours left there
                if not dry_run:
                    self._forget(messages)
                continue
            if selected.uidvalidity != self._target_validity.get(wire):
                # our target UIDs mean nothing now: never act on them; the copy re-pairs
                self._note(f"{messages[0].target_folder}: UIDVALIDITY changed on the target; "
                           "nothing moved or removed there")
                if not dry_run:
                    self._forget(messages)
                continue
            names = self._names([m.tgt_uid for m in messages])
            moves: dict[bytes, list[Departed]] = defaultdict(list)
            removals: list[Departed] = []
            announced: dict[int, MirrorAction] = {}
            for message in messages:
                if message.tgt_uid not in names:
                    continue  # gone already (an earlier pass was cut short): nothing to do
                name = names[message.tgt_uid]
                if id(message) in moving:
                    arrival = destination[id(message)]
                    announced[id(message)] = self._announce(
                        "moved", message, name, arrival.target_folder)
                    moves[arrival.target_wire].append(message)
                elif id(message) in removing:
                    announced[id(message)] = self._announce("removed", message, name)
                    removals.append(message)
            if dry_run:
                self.report.actions.extend(announced.values())
                continue
            expunge: list[int] = []
            settled = [m for m in messages if m.tgt_uid not in names
                       or id(m) not in moving | removing]  # gone already, or re-paired
            for target_wire, moved in moves.items():
                if can_move:
                    for chunk in uid_chunks([m.tgt_uid for m in moved]):
                        self.target.uid_move(chunk, target_wire)
                elif exact_expunge:
                    to_copy = [m.tgt_uid for m in moved
                               if not _take(waiting, (target_wire, m.fingerprint))]
                    for chunk in uid_chunks(to_copy):
                        self.target.uid_copy(chunk, target_wire)
                    expunge.extend(m.tgt_uid for m in moved)
                else:
                    continue  # no way to take it out of this folder exactly: left in place
                settled.extend(moved)
            if exact_expunge:
                expunge.extend(m.tgt_uid for m in removals)
                settled.extend(removals)
            for chunk in uid_chunks(sorted(expunge)):
                self.target.uid_expunge(chunk)
            self._forget(settled)
            done = [announced[id(m)] for m in settled if id(m) in announced]
            self.report.actions.extend(done)
            log.info("mirror: %s: %d moved, %d removed", messages[0].target_folder,
                     sum(1 for a in done if a.action == "moved"),
                     sum(1 for a in done if a.action == "removed"))

    def _announce(self, action: str, message: Departed, name: _Name, to: str | None = None,
                  ) -> MirrorAction:
        """Logged before the command, so a message removed by a pass that was killed before
        it heard back is in that run's log; the report lists what was done."""
        verb = {"moved": "moving", "removed": "removing"}[action]
        if self.options.dry_run:
            verb = "would be " + action
        where = f" to {to}" if to else ""
        log.info("mirror: %s %s%s: Message-ID %s, date %s (source folder %s)", verb,
                 message.target_folder, where, name.message_id or "(none)",
                 name.date or "(none)", message.source_folder)
        return MirrorAction(action, message.target_folder, name.message_id, name.date, to)

    def _forget(self, messages: Sequence[Departed]) -> None:
        by_state: dict[int, list[int]] = defaultdict(list)
        for message in messages:
            by_state[message.folder_id].append(message.src_uid)
        for folder_id, uids in by_state.items():
            self.store.forget_source_uids(folder_id, uids)

    def _names(self, uids: Sequence[int]) -> dict[int, _Name]:
        """Message-ID and date of the selected folder's messages among `uids` still there."""
        names: dict[int, _Name] = {}
        for chunk in uid_chunks(sorted(set(uids))):
            for item in self.target.uid_fetch(chunk, b"(UID INTERNALDATE BODY.PEEK[HEADER])"):
                if item.uid is None or item.header is None:
                    continue
                names[item.uid] = _Name(message_id(item.header),
                                        _date(item.header) or item.internaldate)
        return names

    def _unpaired_in(self, folders: set[bytes]) -> Counter[tuple[bytes, str]]:
        """Fingerprints of the target messages no state pairs in these folders: a copy an
        earlier pass made just before it was cut short is found there, not made again."""
        known: dict[bytes, set[int]] = defaultdict(set)
        for state in self.store.folders_of(self.pair_id):
            if state.target_name in folders:
                known[state.target_name].update(
                    m.tgt_uid for m in self.store.mapped(state.id).values()
                    if m.tgt_uid is not None)
        found = Counter[tuple[bytes, str]]()
        for wire in folders:
            try:
                self.target.select(wire, readonly=True)
            except TryAgainLater:
                raise
            except CommandFailed:
                continue
            unknown = sorted(set(self.target.uid_search_all()) - known[wire])
            for header in _headers(self.target, unknown):
                found[(wire, MessageKey.of(header).exact)] += 1
        return found


def _headers(target: ImapSession, uids: Sequence[int]) -> Iterator[bytes]:
    for chunk in uid_chunks(uids):
        for item in target.uid_fetch(chunk, b"(UID BODY.PEEK[HEADER])"):
            if item.uid is not None and item.header is not None:
                yield item.header


def _take(counter: Counter[tuple[bytes, str]], key: tuple[bytes, str]) -> bool:
    if counter[key] > 0:
        counter[key] -= 1
        return True
    return False


def _date(header: bytes) -> str | None:
    match = _DATE.search(header_block(header))
    if not match:
        return None
    return re.sub(rb"\s+", b" ", match.group(1)).strip().decode("utf-8", "replace") or None
