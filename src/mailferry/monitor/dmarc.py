"""DMARC aggregate (rua) reports: ingested from files or an IMAP folder, parsed by parsedmarc
(XML, gzip, zip, or the whole report mail), stored once per reporter and report id, then
summed per domain and sending IP, before and after the cutover. The planner's rule
`dmarc.unaligned-source` turns a source that fails alignment after the cutover into a
finding with advice.

parsedmarc costs seconds to import (mail and DNS libraries it brings along), so it is
imported only here, when reports are read; it runs offline (no DNS, no downloads).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailferry.imap import Account, encode_name, session_for, uid_set
from mailferry.plan import DMARC_SOURCE, Fact, Finding, evaluate_rules
from mailferry.project import Migration
from mailferry.store import DmarcRecord, DmarcReport, MonitorState

RULE = "dmarc.unaligned-source"


class NotAReport(Exception):
    """Not a DMARC aggregate report (or not a readable one): the reason says which."""


@dataclass
class Ingested:
    new: int = 0
    known: int = 0  # stored before (the same reporter's report id)
    skipped: list[str] = field(default_factory=list)  # "origin: why"


def parse_report(data: bytes, origin: str) -> DmarcReport:
    import parsedmarc  # seconds to import: only when reports are read

    try:
        parsed = parsedmarc.parse_report_file(data, offline=True, always_use_local_files=True)
    except (parsedmarc.ParserError, ValueError, OSError) as exc:
        raise NotAReport(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if parsed.get("report_type") != "aggregate":
        raise NotAReport(f"a {parsed.get('report_type')} report, not an aggregate one")
    report: dict[str, Any] = parsed["report"]
    meta = report["report_metadata"]
    org, report_id = str(meta["org_name"]), str(meta["report_id"])
    records = [_record(org, report_id, r) for r in report["records"]]
    return DmarcReport(org, report_id, str(report["policy_published"]["domain"]).lower(),
                       _epoch(meta["begin_date"]), _epoch(meta["end_date"]), origin, records)


def _epoch(text: str) -> float:
    moment = dt.datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _record(org: str, report_id: str, record: dict[str, Any]) -> DmarcRecord:
    auth = record.get("auth_results") or {}
    names = {str(record["identifiers"].get("envelope_from") or "").lower()}
    names |= {str(r.get("domain") or "").lower() for r in auth.get("dkim", [])}
    names |= {str(r.get("domain") or "").lower() for r in auth.get("spf", [])}
    alignment = record["alignment"]
    return DmarcRecord(org, report_id, str(record["identifiers"]["header_from"]).lower(),
                       str(record["source"]["ip_address"]), int(record["count"]),
                       bool(alignment["spf"]), bool(alignment["dkim"]),
                       bool(alignment["dmarc"]), _epoch(record["interval_begin"]),
                       _epoch(record["interval_end"]), tuple(sorted(n for n in names if n)))


def ingest(state: MonitorState, items: Iterable[tuple[str, bytes]], at: float) -> Ingested:
    """Store each (origin, bytes) that is an aggregate report; report what was not."""
    result = Ingested()
    for origin, data in items:
        try:
            report = parse_report(data, origin)
        except NotAReport as exc:
            result.skipped.append(f"{origin}: {exc}")
            continue
        if state.add_dmarc_report(report, at):
            result.new += 1
        else:
            result.known += 1
    return result


def files(paths: Iterable[Path]) -> Iterable[tuple[str, bytes]]:
    """Report files; a directory stands for the files in it (not below)."""
    for path in paths:
        children = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for child in children:
            yield str(child), child.read_bytes()


def folder_messages(account: Account, folder: str) -> Iterable[tuple[str, bytes]]:
    """Every message of an IMAP folder, read-only (BODY.PEEK: nothing is marked read)."""
    session = session_for(account)
    try:
        wire = encode_name(folder)
        selected = session.select(wire, readonly=True)
        if not selected.exists:
            return
        uids = session.uid_search_all()
        if not uids:
            return
        items = list(session.uid_fetch(uid_set(uids), b"(UID BODY.PEEK[])"))
    finally:
        session.logout()
    for item in items:
        if item.body is not None:
            yield f"imap {account.endpoint} {folder} UID {item.uid}", item.body


@dataclass(frozen=True)
class SourceRow:
    domain: str
    source_ip: str
    names: tuple[str, ...]
    before: dict[str, int]
    after: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "source_ip": self.source_ip, "names": list(self.names),
                "before": self.before, "after": self.after}


def _ours(header_from: str, domains: Iterable[str]) -> str | None:
    for domain in domains:
        if header_from == domain or header_from.endswith("." + domain):
            return domain
    return None


def sources(migration: Migration, records: Iterable[DmarcRecord]) -> list[SourceRow]:
    """Per migrated domain and sending IP: volume, aligned, SPF- and DKIM-aligned, before
    and after the cutover (a record counts on the side of its interval's middle)."""
    cutover = migration.cutover.timestamp()
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        domain = _ours(record.header_from, migration.domains)
        if domain is None:
            continue
        row = rows.setdefault((domain, record.source_ip), {
            "names": set(), "before": _zero(), "after": _zero()})
        row["names"].update(record.names)
        side = row["after" if (record.begin + record.end) / 2 >= cutover else "before"]
        side["messages"] += record.messages
        side["aligned"] += record.messages if record.aligned else 0
        side["spf_aligned"] += record.messages if record.spf_aligned else 0
        side["dkim_aligned"] += record.messages if record.dkim_aligned else 0
    return [SourceRow(domain, ip, tuple(sorted(row["names"])), row["before"], row["after"])
            for (domain, ip), row in sorted(rows.items())]


def _zero() -> dict[str, int]:
    return {"messages": 0, "aligned": 0, "spf_aligned": 0, "dkim_aligned": 0}


def findings(migration: Migration, rows: list[SourceRow], now: dt.datetime) -> list[Finding]:
    from mailferry.plan import Facts

    observed = now.astimezone(dt.UTC)
    facts = Facts([Fact(DMARC_SOURCE, f"{row.domain} {row.source_ip}", row.to_json(),
                        observed, "dmarc aggregate reports") for row in rows])
    return evaluate_rules(migration, facts, (RULE,), now)
