"""What each hazard rule says, word for word, for every firing case of rule_cases.py: the
message and advice a user reads (with the dates, counts and names computed into them), the
subject, the severity and the facts cited. Kept in rule_findings.json beside this file.

After a deliberate change of wording, write the file anew and review its diff:
    MAILFERRY_WRITE_FINDINGS=1 .venv/bin/python -m pytest tests/plan/test_rule_texts.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mailferry.plan import RULES_BY_ID, Facts
from mailferry.plan.findings import RuleContext, run_rules
from mailferry.project import parse
from testbed.plankit import example
from testbed.rulecases import CASES, case_id

GOLDEN = Path(__file__).with_name("rule_findings.json")
FIRING = [i for i, case in enumerate(CASES) if case[4]]


def findings(index: int) -> list[dict[str, Any]]:
    rule_id, replace, facts, now, _ = CASES[index]
    migration = parse(example(replace=replace)).plan
    found = run_rules([RULES_BY_ID[rule_id]], RuleContext(migration, Facts(facts), now))
    return [{"severity": str(f.severity), "subject": f.subject, "message": f.message,
             "advice": f.advice, "facts": [fact.key for fact in f.facts],
             "blocks": list(f.blocks)} for f in found]


def test_the_findings_file_covers_every_firing_case() -> None:
    if os.environ.get("MAILFERRY_WRITE_FINDINGS"):
        GOLDEN.write_text(json.dumps({case_id(i): findings(i) for i in FIRING}, indent=1,
                                     ensure_ascii=False) + "\n", encoding="utf-8")
    assert set(json.loads(GOLDEN.read_text(encoding="utf-8"))) == {case_id(i) for i in FIRING}


@pytest.mark.parametrize("index", FIRING, ids=[case_id(i) for i in FIRING])
def test_what_the_rule_says(index: int) -> None:
    wanted = json.loads(GOLDEN.read_text(encoding="utf-8"))[case_id(index)]
    assert findings(index) == wanted
