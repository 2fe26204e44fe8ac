"""Verify one mailbox: the same folder pairs the copy made, each compared message by message.

Source and target are read at the same time (one thread each), over one connection per
side; any MessageSource works on either side, so a backup can be verified against a server.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from mailferry.engine import (
    FolderFilters,
    MessageFilter,
    MessageSource,
    SourceOpener,
    folders_from_listing,
    imap_source,
    plan_folders,
)
from mailferry.imap import Account, SessionLimits
from mailferry.verify.compare import compare_folder
from mailferry.verify.inventory import Inventory, take_inventory
from mailferry.verify.model import Difference, ExcludedFolder, FolderCheck, VerifyReport


def verify_mailbox(source: Account | SourceOpener, target: Account | SourceOpener, *,
                   filters: FolderFilters | None = None, deep: bool = False) -> VerifyReport:
    started = time.monotonic()
    src_opener = imap_source(source) if isinstance(source, Account) else source
    tgt_opener = imap_source(target) if isinstance(target, Account) else target
    report = VerifyReport(src_opener.name, tgt_opener.name, deep)
    src = src_opener.open(SessionLimits())
    try:
        tgt = tgt_opener.open(SessionLimits())
        try:
            _verify(src, tgt, report, filters or FolderFilters())
        finally:
            tgt.logout()
    finally:
        src.logout()
    report.seconds = time.monotonic() - started
    return report


def _verify(src: MessageSource, tgt: MessageSource, report: VerifyReport,
            filters: FolderFilters) -> None:
    src_folders = folders_from_listing(*src.list_folders())
    tgt_entries, tgt_subscribed, tgt_namespace = tgt.list_folders()
    tgt_folders = folders_from_listing(tgt_entries, tgt_subscribed, tgt_namespace)
    plan = plan_folders(src_folders, tgt_folders, tgt_namespace, filters)
    report.excluded = [ExcludedFolder(e.source.display, e.reason) for e in plan.excluded]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for pair in sorted(plan.pairs, key=lambda p: p.source.path):
            if not pair.source.selectable:
                continue
            check = FolderCheck(pair.source.display, pair.target_display, note=pair.note)
            report.folders.append(check)
            source_side = pool.submit(take_inventory, src, pair.source.wire, deep=report.deep)
            if not pair.target_exists:
                inventory = source_side.result()
                check.excluded = _leave_out(inventory, filters.messages)
                check.source_messages = len(inventory.entries)
                check.source_bytes = sum(e.size for e in inventory.entries)
                check.differences = check.source_messages or 1
                report.differences.append(Difference(
                    pair.source.display, "folder-missing", None, None, None,
                    f"the target has no folder {pair.target_display} "
                    f"({check.source_messages} source messages missing)"))
                continue
            target_side = pool.submit(take_inventory, tgt, pair.target_wire, deep=report.deep)
            source_inv, target_inv = source_side.result(), target_side.result()
            check.excluded = _leave_out(source_inv, filters.messages)
            check.source_messages = len(source_inv.entries)
            check.target_messages = len(target_inv.entries)
            check.source_bytes = sum(e.size for e in source_inv.entries)
            check.target_bytes = sum(e.size for e in target_inv.entries)
            report.bytes_hashed += source_inv.bytes_hashed + target_inv.bytes_hashed
            found, notes = compare_folder(pair.source.display, source_inv, target_inv)
            check.differences = len(found)
            check.delivered_twice = len(notes)
            report.differences.extend(found)
            report.notes.extend(notes)


def _leave_out(inventory: Inventory, rule: MessageFilter) -> int:
    """Drop the source messages the copy leaves out by age or size (the same rule), so
    they are not called missing; how many."""
    if not rule.active:
        return 0
    kept = [e for e in inventory.entries if rule.keeps(e.internaldate, e.size)]
    left_out = len(inventory.entries) - len(kept)
    inventory.entries = kept
    return left_out
