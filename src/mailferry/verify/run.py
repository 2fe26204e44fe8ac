"""Verify one mailbox: the same folder pairs the copy made, each compared message by message.

Source and target are read at the same time (one thread each), over one connection per
side; any MessageSource works on either side, so a backup can be verified against a server.

A Gmail-style \\All folder is compared as `copy` filled it: with all_mail="unfiled" (copy's
default) only its messages that no other folder in scope holds are expected in the target;
the others are counted as filed elsewhere, not reported missing.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from mailferry.engine import (
    Folder,
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
                   filters: FolderFilters | None = None, deep: bool = False,
                   all_mail: str = "unfiled") -> VerifyReport:
    """all_mail: what `copy --all-mail` promised for an \\All folder ("unfiled" or "copy")."""
    started = time.monotonic()
    src_opener = imap_source(source) if isinstance(source, Account) else source
    tgt_opener = imap_source(target) if isinstance(target, Account) else target
    report = VerifyReport(src_opener.name, tgt_opener.name, deep)
    src = src_opener.open(SessionLimits())
    try:
        tgt = tgt_opener.open(SessionLimits())
        try:
            _verify(src, tgt, report, filters or FolderFilters(), unfiled=all_mail == "unfiled")
        finally:
            tgt.logout()
    finally:
        src.logout()
    report.seconds = time.monotonic() - started
    return report


def _is_all(folder: Folder) -> bool:
    return folder.special_use == "\\All"


def _verify(src: MessageSource, tgt: MessageSource, report: VerifyReport,
            filters: FolderFilters, *, unfiled: bool) -> None:
    src_folders = folders_from_listing(*src.list_folders())
    tgt_entries, tgt_subscribed, tgt_namespace = tgt.list_folders()
    tgt_folders = folders_from_listing(tgt_entries, tgt_subscribed, tgt_namespace)
    plan = plan_folders(src_folders, tgt_folders, tgt_namespace, filters)
    report.excluded = [ExcludedFolder(e.source.display, e.reason) for e in plan.excluded]
    tgt_all = {f.wire for f in tgt_folders if _is_all(f)}
    filed: set[str] = set()  # fingerprints of the source's other folders in scope
    with ThreadPoolExecutor(max_workers=2) as pool:
        # an \All folder last (as copy does), once the other folders' messages are known
        for pair in sorted(plan.pairs, key=lambda p: (unfiled and _is_all(p.source),
                                                      p.source.path)):
            if not pair.source.selectable:
                continue
            check = FolderCheck(pair.source.display, pair.target_display, note=pair.note)
            report.folders.append(check)
            source_side = pool.submit(take_inventory, src, pair.source.wire, deep=report.deep)
            unfiled_only = unfiled and _is_all(pair.source)
            if not pair.target_exists:
                inventory = source_side.result()
                check.excluded = _leave_out(inventory, filters.messages)
                if unfiled_only:
                    check.filed_elsewhere = _drop_filed(inventory, filed)
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
            if unfiled_only:
                check.filed_elsewhere = _drop_filed(source_inv, filed)
                if pair.target_wire in tgt_all:  # a Gmail-like target shows them here too
                    _drop_filed(target_inv, filed)
            elif not _is_all(pair.source):
                filed.update(e.fingerprint for e in source_inv.entries)
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


def _drop_filed(inventory: Inventory, filed: set[str]) -> int:
    """Leave out the messages another folder holds; how many there were."""
    kept = [e for e in inventory.entries if e.fingerprint not in filed]
    dropped = len(inventory.entries) - len(kept)
    inventory.entries = kept
    return dropped
