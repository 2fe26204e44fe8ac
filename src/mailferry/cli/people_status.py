"""What `mailferry status` adds about people: when each wave moves, and who was told what
and when (the notice journal)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from rich.console import Console

from mailferry.project import ProjectSettings
from mailferry.store import NoticeJournal, NoticeRecord, NoticeState

from .output import Column, print_rows


def notice_records(settings: ProjectSettings) -> list[NoticeRecord]:
    if not settings.sync.has_state():
        return []
    with NoticeJournal.open(settings.state_location()) as journal:
        return journal.records()


def people_json(settings: ProjectSettings, users: set[str]) -> dict[str, Any]:
    return {
        "wave_times": {wave: {"start": t.start.isoformat(),
                              "end": t.end.isoformat() if t.end else None}
                       for wave, t in settings.wave_times.items()},
        "notices": [{"source_user": r.source_user, "kind": r.kind, "about": r.about,
                     "state": str(r.state), "recipient": r.recipient, "sent_at": r.sent_at,
                     "error": r.error}
                    for r in notice_records(settings) if r.source_user in users],
    }


def print_people(settings: ProjectSettings, users: set[str], console: Console) -> None:
    if settings.wave_times:
        print_rows(console, f"Wave dates ({settings.timezone.key})",
                   [Column("wave"), Column("starts"), Column("ends")],
                   [[wave, f"{times.start:%a %Y-%m-%d %H:%M}",
                     f"{times.end:%a %Y-%m-%d %H:%M}" if times.end else "-"]
                    for wave, times in sorted(settings.wave_times.items(),
                                              key=lambda w: w[1].start)])
    records = [r for r in notice_records(settings) if r.source_user in users]
    if not records:
        return
    rows = []
    for kind in sorted({r.kind for r in records}):
        mine = [r for r in records if r.kind == kind]
        counts = Counter(r.state for r in mine)
        last = max((r.sent_at for r in mine if r.sent_at), default=None)
        rows.append([kind, str(counts[NoticeState.SENT]), str(counts[NoticeState.FAILED]),
                     str(counts[NoticeState.SENDING]), dt.datetime.fromtimestamp(
                         last, settings.timezone).strftime("%Y-%m-%d %H:%M") if last else "-"])
    print_rows(console, "Notices", [Column("notice"), Column("sent", "right"),
                                    Column("failed", "right"), Column("in flight", "right"),
                                    Column("last sent")], rows)
    console.print("Per user: mailferry notify --list")
