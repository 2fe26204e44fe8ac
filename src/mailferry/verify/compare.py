"""Compare one folder pair: messages are matched as a multiset by fingerprint (as the copy
engine does), so a message appended twice shows as one extra, a deleted one as missing.

What is left is then paired below the delivery fields (the copy engine's relayed pairing):
a message the relay delivered to both servers is one message whose two copies differ only
in the Return-Path/Received/... lines each server prepended (and in the arrival time each
server stamped). Such a pair is noted, not reported as missing and extra, provided the
bodies are the same (their digests with --deep, else their sizes)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from mailferry.verify.inventory import Entry, Inventory
from mailferry.verify.model import Difference

SYSTEM_FLAGS = {"\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft"}


def kept_flags(flags: frozenset[str], permanent: frozenset[str]) -> frozenset[str]:
    """The flags a target with these PERMANENTFLAGS can store: keywords it refuses were
    reported (and left out) by the copy, so they are not a difference here."""
    lowered = {f.lower() for f in permanent}
    if not lowered or "\\*" in lowered:
        return flags
    return frozenset(f for f in flags if f.lower() in SYSTEM_FLAGS or f.lower() in lowered)


def _instant(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def _same_date(left: str, right: str) -> bool:
    """The same instant: a server may spell a date in another zone (or pad the day)."""
    a, b = _instant(left), _instant(right)
    return a == b if a is not None and b is not None else left == right


def describe(src: Entry, tgt: Entry, permanent: frozenset[str]) -> list[str]:
    """What differs between a source message and the target message matched to it."""
    problems = []
    wanted = kept_flags(src.flags, permanent)
    if {f.lower() for f in wanted} != {f.lower() for f in tgt.flags}:
        problems.append(f"flags: source ({' '.join(sorted(wanted))}) target "
                        f"({' '.join(sorted(tgt.flags))})")
    if not _same_date(src.internaldate, tgt.internaldate):
        problems.append(f"internaldate: source {src.internaldate} target {tgt.internaldate}")
    if src.size != tgt.size:
        problems.append(f"size: source {src.size} target {tgt.size}")
    if src.sha256 is not None and tgt.sha256 is not None and src.sha256 != tgt.sha256:
        note = " (the source has NUL bytes, which the target server rewrites)" \
            if src.has_nul else ""
        problems.append(f"body sha256 differs{note}")
    return problems


def compare_folder(folder: str, source: Inventory, target: Inventory,
                   ) -> tuple[list[Difference], list[Difference]]:
    """(differences, notes): notes are the messages delivered to both servers."""
    by_fp: dict[str, tuple[list[Entry], list[Entry]]] = defaultdict(lambda: ([], []))
    for entry in source.entries:
        by_fp[entry.fingerprint][0].append(entry)
    for entry in target.entries:
        by_fp[entry.fingerprint][1].append(entry)
    found: list[Difference] = []
    lone_sources: list[Entry] = []
    lone_targets: list[tuple[Entry, str]] = []
    for src_list, tgt_list in by_fp.values():
        pairs, lone_src, lone_tgt = _pair(src_list, tgt_list, target.permanent_flags)
        for src, tgt in pairs:
            problems = describe(src, tgt, target.permanent_flags)
            if problems:
                found.append(Difference(folder, "different", src.uid, tgt.uid, src.message_id,
                                        "; ".join(problems)))
        lone_sources.extend(lone_src)
        for tgt in lone_tgt:
            detail = (f"duplicate: the source has {len(src_list)} such message(s), the target "
                      f"{len(tgt_list)}" if src_list else "not in the source")
            lone_targets.append((tgt, detail))
    notes, lone_sources, lone_targets = _pair_delivered_twice(
        folder, lone_sources, lone_targets, target.permanent_flags, found)
    for src in lone_sources:
        found.append(Difference(folder, "missing", src.uid, None, src.message_id,
                                "not in the target"))
    for tgt, detail in lone_targets:
        found.append(Difference(folder, "extra", None, tgt.uid, tgt.message_id, detail))
    found.sort(key=lambda d: (d.source_uid or 0, d.target_uid or 0))
    notes.sort(key=lambda d: d.source_uid or 0)
    return found, notes


def _same_body(src: Entry, tgt: Entry) -> bool:
    if src.body_sha256 is not None or tgt.body_sha256 is not None:
        return src.body_sha256 == tgt.body_sha256
    return src.body_size is not None and src.body_size == tgt.body_size


def _pair_delivered_twice(folder: str, sources: list[Entry],
                          targets: list[tuple[Entry, str]], permanent: frozenset[str],
                          found: list[Difference],
                          ) -> tuple[list[Difference], list[Entry], list[tuple[Entry, str]]]:
    """Pair what is left below the delivery fields; (notes, sources left, targets left)."""
    notes: list[Difference] = []
    left: list[Entry] = []
    pool = sorted(targets, key=lambda t: t[0].uid)
    for src in sorted(sources, key=lambda e: e.uid):
        match = next((t for t in pool if src.relayed is not None
                      and t[0].relayed == src.relayed and _same_body(src, t[0])), None)
        if match is None:
            left.append(src)
            continue
        pool.remove(match)
        tgt = match[0]
        notes.append(Difference(folder, "delivered-twice", src.uid, tgt.uid, src.message_id,
                                "the same message delivered to both servers: only the delivery"
                                " header fields each server added differ"
                                f" (arrived {src.internaldate} and {tgt.internaldate})"))
        wanted = kept_flags(src.flags, permanent)
        if {f.lower() for f in wanted} != {f.lower() for f in tgt.flags}:
            found.append(Difference(folder, "different", src.uid, tgt.uid, src.message_id,
                                    f"flags: source ({' '.join(sorted(wanted))}) target "
                                    f"({' '.join(sorted(tgt.flags))})"))
    return notes, left, pool


def _pair(sources: list[Entry], targets: list[Entry], permanent: frozenset[str],
          ) -> tuple[list[tuple[Entry, Entry]], list[Entry], list[Entry]]:
    """Identical pairs first, then the rest in UID order, so one changed copy among
    several same-fingerprint messages is the one reported."""
    sources, targets = sorted(sources, key=lambda e: e.uid), sorted(targets, key=lambda e: e.uid)
    pairs: list[tuple[Entry, Entry]] = []
    rest: list[Entry] = []
    for src in sources:
        match = next((t for t in targets if not describe(src, t, permanent)), None)
        if match is None:
            rest.append(src)
        else:
            targets.remove(match)
            pairs.append((src, match))
    count = min(len(rest), len(targets))
    pairs.extend(zip(rest[:count], targets[:count], strict=True))
    return pairs, rest[count:], targets[count:]
