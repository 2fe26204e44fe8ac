"""What `mailferry monitor`, `deliverability` and `dmarc` saw, next to the copy state in the
same file (own tables, own connection, like the project state).

- monitor_passes: one row per pass, its whole result as JSON (the history);
- monitor_incidents: one row per incident (opened, resolved) and which alert channels have
  been told of each event, so a person hears of it once, and once of its end;
- monitor_probes: each probe mail by its token, until it is found or given up;
- monitor_late_mail: per user, the messages the delta passes copied after the cutover;
- deliverability_runs: each side-by-side comparison as JSON;
- dmarc_reports / dmarc_records: aggregate reports ingested (once each: org + report id).

`MonitorState.overview()` is the one read the report's Monitoring section, `status` and the
dashboard share. Nothing here holds a secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mailferry.store.sqlite_file import SqliteFile
from mailferry.store.tables import (
    deliverability_runs,
    dmarc_records,
    dmarc_reports,
    incidents,
    late_mail,
    passes,
    probes,
)


@dataclass(frozen=True)
class Incident:
    id: int
    key: str
    opened_at: float
    resolved_at: float | None
    message: str
    last_message: str
    opened_sent: frozenset[str]
    resolved_sent: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "opened_at": self.opened_at, "resolved_at": self.resolved_at,
                "message": self.message, "last_message": self.last_message}


@dataclass(frozen=True)
class Probe:
    token: str
    sent_at: float
    done: bool
    detail: dict[str, Any]


@dataclass(frozen=True)
class DmarcRecord:
    org: str
    report_id: str
    header_from: str
    source_ip: str
    messages: int
    spf_aligned: bool
    dkim_aligned: bool
    aligned: bool
    begin: float
    end: float
    names: tuple[str, ...]


@dataclass(frozen=True)
class DmarcReport:
    org: str
    report_id: str
    domain: str
    begin: float
    end: float
    origin: str
    records: Sequence[DmarcRecord]


class MonitorState(SqliteFile):
    # -- passes ---------------------------------------------------------------------------

    def record_pass(self, at: float, alerts: int, summary: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(passes.insert().values(at=at, alerts=alerts, summary=_dump(summary)))

    def passes(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest passes, newest first, each its stored summary with `at` and `alerts`."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(passes).order_by(passes.c.id.desc())
                                .limit(limit)).mappings().all()
        return [{**json.loads(r["summary"]), "at": r["at"], "alerts": r["alerts"]}
                for r in rows]

    # -- incidents ------------------------------------------------------------------------

    def incidents(self, *, open_only: bool = False, limit: int = 200) -> list[Incident]:
        query = sa.select(incidents).order_by(incidents.c.id.desc()).limit(limit)
        if open_only:
            query = query.where(incidents.c.resolved_at.is_(None))
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [_incident(r) for r in rows]

    def open_incident(self, key: str, message: str, at: float) -> None:
        with self._tx() as conn:
            conn.execute(incidents.insert().values(key=key, opened_at=at, message=message,
                                                   last_message=message, opened_sent="",
                                                   resolved_sent=""))

    def update_incident(self, incident_id: int, message: str) -> None:
        with self._tx() as conn:
            conn.execute(incidents.update().where(incidents.c.id == incident_id)
                         .values(last_message=message))

    def resolve_incident(self, incident_id: int, at: float) -> None:
        with self._tx() as conn:
            conn.execute(incidents.update().where(incidents.c.id == incident_id)
                         .values(resolved_at=at))

    def unsent(self) -> list[Incident]:
        """Incidents with an event (opened, resolved) not yet told on every channel."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(incidents).order_by(incidents.c.id)).mappings().all()
        return [_incident(r) for r in rows]

    def mark_sent(self, incident_id: int, event: str, channel: str) -> None:
        column = incidents.c.opened_sent if event == "opened" else incidents.c.resolved_sent
        with self._tx() as conn:
            current = conn.execute(sa.select(column).where(
                incidents.c.id == incident_id)).scalar_one()
            channels = " ".join(sorted(set(current.split()) | {channel}))
            conn.execute(incidents.update().where(incidents.c.id == incident_id)
                         .values({column.name: channels}))

    # -- probes ---------------------------------------------------------------------------

    def add_probe(self, token: str, sent_at: float, detail: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(probes.insert().values(token=token, sent_at=sent_at, done=False,
                                                detail=_dump(detail)))

    def update_probe(self, token: str, detail: dict[str, Any], *, done: bool) -> None:
        with self._tx() as conn:
            conn.execute(probes.update().where(probes.c.token == token)
                         .values(detail=_dump(detail), done=done))

    def probes(self, *, pending_only: bool = False, limit: int = 100) -> list[Probe]:
        """Newest first."""
        query = sa.select(probes).order_by(probes.c.sent_at.desc()).limit(limit)
        if pending_only:
            query = query.where(probes.c.done.is_(False))
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [Probe(r["token"], r["sent_at"], bool(r["done"]), json.loads(r["detail"]))
                for r in rows]

    # -- late mail ------------------------------------------------------------------------

    def add_late_mail(self, source_user: str, copied: int, at: float,
                      error: str | None) -> None:
        row = late_mail.c
        with self._tx() as conn:
            updated = conn.execute(late_mail.update().where(row.source_user == source_user)
                                   .values(messages=row.messages + copied,
                                           last_messages=copied, last_at=at, error=error))
            if updated.rowcount == 0:
                conn.execute(late_mail.insert().values(source_user=source_user, messages=copied,
                                                       last_messages=copied, last_at=at,
                                                       error=error))

    def late_mail(self) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(late_mail).order_by(late_mail.c.source_user)
                                ).mappings().all()
        return [dict(r) for r in rows]

    # -- deliverability -------------------------------------------------------------------

    def record_deliverability(self, at: float, detail: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(deliverability_runs.insert().values(at=at, detail=_dump(detail)))

    def deliverability(self) -> dict[str, Any] | None:
        """The latest comparison, or None."""
        with self._tx() as conn:
            row = conn.execute(sa.select(deliverability_runs).order_by(
                deliverability_runs.c.id.desc()).limit(1)).mappings().first()
        return {**json.loads(row["detail"]), "at": row["at"]} if row else None

    # -- DMARC ----------------------------------------------------------------------------

    def add_dmarc_report(self, report: DmarcReport, at: float) -> bool:
        """Store a report once; False if this org's report id is already stored."""
        with self._tx() as conn:
            known = conn.execute(sa.select(dmarc_reports.c.org).where(
                dmarc_reports.c.org == report.org,
                dmarc_reports.c.report_id == report.report_id)).first()
            if known is not None:
                return False
            conn.execute(dmarc_reports.insert().values(
                org=report.org, report_id=report.report_id, domain=report.domain,
                begin=report.begin, end=report.end, origin=report.origin, ingested_at=at))
            if report.records:
                conn.execute(dmarc_records.insert(), [
                    {"org": r.org, "report_id": r.report_id, "header_from": r.header_from,
                     "source_ip": r.source_ip, "messages": r.messages,
                     "spf_aligned": r.spf_aligned, "dkim_aligned": r.dkim_aligned,
                     "aligned": r.aligned, "begin": r.begin, "end": r.end,
                     "names": json.dumps(list(r.names))} for r in report.records])
        return True

    def dmarc_records(self) -> list[DmarcRecord]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(dmarc_records)).mappings().all()
        return [DmarcRecord(r["org"], r["report_id"], r["header_from"], r["source_ip"],
                            r["messages"], bool(r["spf_aligned"]), bool(r["dkim_aligned"]),
                            bool(r["aligned"]), r["begin"], r["end"],
                            tuple(json.loads(r["names"]))) for r in rows]

    def dmarc_report_count(self) -> int:
        with self._tx() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(dmarc_reports))
                       .scalar_one())

    # -- the shared read ------------------------------------------------------------------

    def overview(self) -> dict[str, Any] | None:
        """Everything the Monitoring section shows, JSON-ready; None if nothing was ever
        monitored (no section then)."""
        latest = self.passes(limit=1)
        delivered = self.deliverability()
        reports = self.dmarc_report_count()
        if not latest and delivered is None and not reports:
            return None
        last = latest[0] if latest else None
        return {
            "last_pass": last,
            "open_incidents": [i.to_json() for i in self.incidents(open_only=True)],
            "incidents": [i.to_json() for i in self.incidents(limit=20)],
            "late_mail": self.late_mail(),
            "deliverability": delivered,
            "dmarc_reports": reports,
        }


def _incident(row: Any) -> Incident:
    return Incident(row["id"], row["key"], row["opened_at"], row["resolved_at"], row["message"],
                    row["last_message"], frozenset(row["opened_sent"].split()),
                    frozenset(row["resolved_sent"].split()))


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)
