"""The runbook: earliest dates, critical path, impossible plans, and its three renderings.
Pure (facts are built in the test) except the CLI tests, which run no checks (--no-check)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailferry.cli import main
from mailferry.plan import (
    ALL_CATEGORIES,
    Fact,
    Facts,
    Runbook,
    build_runbook,
    evaluate,
    runbook_html,
    runbook_icalendar,
    runbook_markdown,
)
from mailferry.project import load, parse
from testbed.plankit import NOW, example
from testbed.rulecases import CUTOVER, mx, status


def runbook(replace: dict[str, str] | None = None, facts: list[Fact] | None = None,
            now: dt.datetime = NOW) -> Runbook:
    migration = parse(example(replace=replace)).plan
    known = Facts(facts if facts is not None else [mx(86400)])
    return build_runbook(migration, known, evaluate(migration, known, ALL_CATEGORIES, now), now)


def test_the_example_is_dated_from_its_constraints() -> None:
    rb = runbook({"registrar_transfer = 2026-12-10": "registrar_transfer = 2027-01-10"})
    assert rb.feasible, rb.problems
    local = NOW.astimezone(rb.migration.timezone)
    assert rb.step("notify").start == local
    pilot = rb.step("pilot")
    assert pilot.earliest == local + dt.timedelta(days=7)  # notice lead time
    assert pilot.start.weekday() == 6  # Sunday 2026-11-29 is in the weekend window
    waves = rb.step("waves")
    assert waves.start == dt.datetime(2026, 12, 2, 20, 0, tzinfo=rb.migration.timezone)
    assert "maintenance window" in waves.why
    assert rb.step("cutover").start == rb.migration.cutover
    assert rb.step("delta").start == rb.migration.cutover + dt.timedelta(minutes=5)
    assert rb.step("registrar-transfer").start.date() == dt.date(2027, 1, 10)
    assert rb.critical_path == ["registrar-transfer"]  # its own date decides


def test_critical_path_follows_the_binding_constraints() -> None:
    rb = runbook({"registrar_transfer = 2026-12-10": ""})
    assert rb.critical_path == ["cutover", "monitor", "decommission"]
    assert all(rb.step(s).critical for s in rb.critical_path)
    assert not rb.step("pilot").critical


def test_planned_transfer_inside_the_dns_window_is_moved_after_the_rollback() -> None:
    rb = runbook()
    transfer = rb.step("registrar-transfer")
    assert transfer.start == rb.step("monitor").end
    assert any("Transfer the domain" in p and "too early" in p for p in rb.problems)
    assert {f.rule for f in transfer.hazards} == {"domain.transfer-during-dns-change"}
    assert "domain.transfer-during-dns-change" in {f.rule for f in rb.step("cutover").hazards}


def test_pending_transfer_makes_the_cutover_impossible_and_says_when_it_can_be() -> None:
    now = CUTOVER - dt.timedelta(days=3)
    rb = runbook({"registrar_transfer = 2026-12-10": ""},
                 [mx(86400), status("pendingTransfer")], now)
    assert not rb.feasible
    lower = rb.step("lower-ttl")
    assert lower.start == (now + dt.timedelta(days=5)).astimezone(rb.migration.timezone)
    assert "registrar transfer" in lower.why
    assert rb.earliest_cutover >= lower.start + dt.timedelta(days=1)
    assert rb.step("cutover").start == rb.earliest_cutover
    assert any(p.startswith("Cut over") and "earliest feasible" in p for p in rb.problems)


def test_old_accounts_expiring_before_decommission_is_a_problem() -> None:
    rb = runbook({"2026-12-20": "2026-12-15", "registrar_transfer = 2026-12-10": ""})
    assert any("old accounts expire on 2026-12-15" in p for p in rb.problems)


def test_unknown_ttl_is_an_assumption_not_a_guess() -> None:
    rb = runbook(facts=[])
    assert any("MX TTL unknown" in a for a in rb.assumptions)
    assert not runbook().assumptions


def test_without_pilot_and_backup_the_waves_follow_the_notice() -> None:
    rb = runbook({"[pilot]\nsize = 10": "", "backup = true": "backup = false"})
    ids = [s.spec.id for s in rb.steps]
    assert "pilot" not in ids and "backup" not in ids
    assert "pilot.missing" in {f.rule for f in rb.step("waves").hazards}


def test_markdown() -> None:
    text = runbook_markdown(runbook())
    assert text.startswith("# Runbook: bank\n")
    assert "## The plan as written is not feasible" in text
    assert "| ★ | Cut over: point MX to the new provider (`cutover`) | Sat 2026-12-12 20:00" in text
    assert "keep the old accounts and the old MX record" in text  # the cutover's fallback
    assert "`domain.transfer-during-dns-change`" in text
    assert "dns.mx[bank.example]" in text  # a cited fact, with its source and time


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") or (tag == "link"):
                self.external.append(f"{tag} {name}={value}")
            if name == "id" and value:
                self.ids.append(value)


def test_html_is_self_contained_and_escaped() -> None:
    rb = runbook({'fallback = "keep': 'fallback = "<script>alert(1)</script> keep'})
    page = runbook_html(rb)
    parser = _Tags()
    parser.feed(page)
    assert parser.external == []
    assert "<style>" in page and "<script>" not in page and "&lt;script&gt;" in page
    assert {f"step-{s.spec.id}" for s in rb.steps} <= set(parser.ids)


def test_icalendar_follows_rfc_5545() -> None:
    rb = runbook()
    text = runbook_icalendar(rb)
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert all(len(line.encode()) <= 75 for line in lines)
    assert text.count("BEGIN:VEVENT") == len(rb.steps)
    unfolded = text.replace("\r\n ", "")
    assert "DTSTART:20261212T120000Z" in unfolded  # the cutover, in UTC
    assert len(set(re.findall(r"UID:(\S+)", unfolded))) == len(rb.steps)


@pytest.mark.parametrize(("fmt", "marker"), [
    ("markdown", "# Runbook: bank"), ("html", "<!DOCTYPE html>"), ("ics", "BEGIN:VCALENDAR"),
])
def test_plan_command_writes_each_format(fmt: str, marker: str, tmp_path: Path,
                                         write_migration: Callable[..., Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = write_migration(example(replace={"registrar_transfer = 2026-12-10": ""}))
    out = tmp_path / f"runbook.{fmt}"
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(path), "--no-check", "--now", "2026-11-22T04:00:00",
              "--format", fmt, "-o", str(out)])
    assert exit_info.value.code == 0
    assert out.read_text().startswith(marker)


def test_impossible_plan_exits_1_with_the_earliest_date(
        write_migration: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = write_migration(example(replace={"registrar_transfer = 2026-12-10": ""}))
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(path), "--no-check", "--now", "2026-12-10T04:00:00"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 1
    # notice, pilot and waves push the cutover
    assert "not feasible" in out and "earliest cutover 2026-12-21 20:00" in err


def test_init_writes_a_file_that_loads(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "migration.toml"
    with pytest.raises(SystemExit) as exit_info:
        main(["init", str(path)])
    assert exit_info.value.code == 0
    assert load(path).plan.name == "example"
    assert path.read_text().count("#") > 30  # commented
    with pytest.raises(SystemExit) as exit_info:
        main(["init", str(path)])
    assert exit_info.value.code == 2  # no overwrite without --force


WAVES = """[waves.pilot]
start = 2026-11-29T13:00:00
end = 2026-11-29T20:00:00

[waves.finance]
start = 2026-12-05T08:00:00

[waves.sales]
start = 2026-12-06T08:00:00

[plan]"""


def test_wave_dates_date_the_pilot_and_the_waves() -> None:
    rb = runbook({"registrar_transfer = 2026-12-10": "registrar_transfer = 2027-01-10",
                  "[plan]": WAVES})
    assert rb.feasible, rb.problems
    zone = rb.migration.timezone
    assert rb.step("pilot").start == dt.datetime(2026, 11, 29, 13, 0, tzinfo=zone)
    waves = rb.step("waves")
    assert waves.start == dt.datetime(2026, 12, 5, 8, 0, tzinfo=zone)
    assert "finance 2026-12-05 08:00, sales 2026-12-06 08:00" in waves.spec.title
    early = runbook({"registrar_transfer = 2026-12-10": "registrar_transfer = 2027-01-10",
                     "[plan]": WAVES.replace("2026-11-29T13", "2026-11-24T13").replace(
                         "2026-11-29T20", "2026-11-24T20")})
    assert not early.feasible  # the pilot's date is inside the notice lead time
    assert any(f.rule == "notify.too-late" for f in early.findings)
