"""SPF lookup counting, DMARC and DKIM parsing, RDAP status words: pure, table-driven."""

from __future__ import annotations

import pytest

from mailferry.plan.mailauth import dkim_has_key, parse_dmarc
from mailferry.plan.rdap import epp_status
from mailferry.plan.spf import evaluate_spf

ZONES = {
    "flat.example": ["v=spf1 ip4:192.0.2.1 -all"],
    "one.example": ["v=spf1 include:flat.example -all", "google-site-verification=x"],
    "mixed.example": ["v=spf1 a mx ptr exists:%{i}.x.example include:flat.example ~all"],
    "nested.example": ["v=spf1 include:one.example include:mixed.example redirect=flat.example"],
    "loop.example": ["v=spf1 include:loop.example -all"],
    "two.example": ["v=spf1 -all", "v=spf1 +all"],
    "dangling.example": ["v=spf1 include:nowhere.example -all"],
    "many.example": ["v=spf1 " + " ".join(f"include:flat.example a:h{i}.example" for i in range(6))
                     + " -all"],
    "none.example": ["not spf"],
}


@pytest.mark.parametrize(("domain", "lookups", "reached", "errors"), [
    ("flat.example", 0, [], 0),
    ("one.example", 1, ["flat.example"], 0),
    ("mixed.example", 5, ["flat.example"], 0),  # a, mx, ptr, exists, include
    ("nested.example", 9, ["one.example", "flat.example", "mixed.example", "flat.example",
                           "flat.example"], 0),
    ("loop.example", 1, ["loop.example"], 1),
    ("two.example", 0, [], 1),
    ("dangling.example", 1, ["nowhere.example"], 1),
    ("many.example", 12, ["flat.example"] * 6, 0),
    ("none.example", 0, [], 0),
])
def test_spf_lookups(domain: str, lookups: int, reached: list[str], errors: int) -> None:
    result = evaluate_spf(domain, lambda name: ZONES.get(name, []))
    assert (result.lookups, result.domains, len(result.errors)) == (lookups, reached, errors)


def test_spf_without_record() -> None:
    result = evaluate_spf("none.example", lambda name: ZONES.get(name, []))
    assert result.record is None and result.lookups == 0


@pytest.mark.parametrize(("txt", "policy", "enforcing"), [
    (["v=DMARC1; p=reject; rua=mailto:d@x"], "reject", True),
    (["v=DMARC1;p=quarantine;pct=0"], "quarantine", False),
    (["v=DMARC1; p=quarantine; pct=bogus"], "quarantine", True),
    (["v=DMARC1; p=none"], "none", False),
    (["v=DMARC1"], "", False),
])
def test_dmarc(txt: list[str], policy: str, enforcing: bool) -> None:
    dmarc = parse_dmarc(txt)
    assert dmarc is not None and (dmarc.policy, dmarc.enforcing) == (policy, enforcing)


def test_no_dmarc_record() -> None:
    assert parse_dmarc(["v=spf1 -all"]) is None


@pytest.mark.parametrize(("txt", "has_key"), [
    (["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEB"], True),
    (["k=rsa; p=MIGfMA0"], True),  # v= is optional
    (["v=DKIM1; p="], False),  # revoked
    ([], False),
])
def test_dkim_key(txt: list[str], has_key: bool) -> None:
    assert dkim_has_key(txt) is has_key


@pytest.mark.parametrize(("words", "code"), [
    ("client transfer prohibited", "clientTransferProhibited"),
    ("pending transfer", "pendingTransfer"),
    ("redemption period", "redemptionPeriod"),
    ("server hold", "serverHold"),
    ("Client Update Prohibited", "clientUpdateProhibited"),
    ("active", "ok"),
])
def test_rdap_status_words_become_epp_codes(words: str, code: str) -> None:
    assert epp_status(words) == code
