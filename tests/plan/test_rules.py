"""Every hazard rule, firing and not firing: table-driven over facts, no sockets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailferry.plan import CATALOGUE, RULES_BY_ID, Fact, Facts, Severity
from mailferry.plan.findings import RuleContext
from mailferry.project import parse
from testbed.plankit import NOW, example
from testbed.rulecases import CASES, case_id, status


@pytest.mark.parametrize(("rule_id", "replace", "facts", "now", "fires"), CASES,
                         ids=[case_id(i) for i in range(len(CASES))])
def test_rule(rule_id: str, replace: dict[str, str], facts: list[Fact], now: dt.datetime,
              fires: bool) -> None:
    migration = parse(example(replace=replace)).plan
    hits = list(RULES_BY_ID[rule_id].evaluate(RuleContext(migration, Facts(facts), now)))
    assert bool(hits) is fires, hits
    for hit in hits:
        assert hit.message and hit.advice


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    fired = {c[0] for c in CASES if c[4]}
    quiet = {c[0] for c in CASES if not c[4]}
    ids = {rule.id for rule in CATALOGUE}
    assert ids == fired == quiet


def test_rule_ids_are_unique_and_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "hazards.md").read_text()
    ids = [rule.id for rule in CATALOGUE]
    assert len(ids) == len(set(ids))
    for rule in CATALOGUE:
        assert f"`{rule.id}`" in doc, rule.id


def test_client_lock_is_a_warning_and_server_lock_an_error() -> None:
    migration = parse(example()).plan
    rule = RULES_BY_ID["domain.transfer-locked"]
    client = list(rule.evaluate(RuleContext(migration, Facts([status(
        "clientTransferProhibited")]), NOW)))
    server = list(rule.evaluate(RuleContext(migration, Facts([status(
        "serverTransferProhibited")]), NOW)))
    assert client[0].severity == Severity.WARNING and server[0].severity is None
