"""Facts that could not be found: reported, never guessed. Facts unknown for one cause (a
DNS server that timed out leaves every later record "not asked") are one finding with the
count and every fact named, not one finding each."""

from __future__ import annotations

from collections.abc import Iterator

from mailferry.plan.facts import Category, Fact
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity

_ADVICE = ("Make the source reachable (see [check] for private resolvers and RDAP servers) "
           "and run the check again.")


def cause(fact: Fact) -> str:
    """Why `fact` is unknown, without the record it was about: DNS errors read
    "MX bank.example: not asked, dns 127.0.0.1:53 timed out on NS bank.example"."""
    error = fact.error or ""
    if fact.source.startswith("dns ") and ": " in error:
        error = error.split(": ", 1)[1]
    return error.removeprefix("not asked, ")


def unknown_facts(ctx: RuleContext) -> Iterator[Hit]:
    groups: dict[str, list[Fact]] = {}
    for fact in ctx.facts.unknown():
        groups.setdefault(cause(fact), []).append(fact)
    for why, facts in groups.items():
        if len(facts) == 1:
            (fact,) = facts
            yield Hit(f"{fact.name} of {fact.subject} is unknown: {fact.error}; rules that "
                      "need it were not evaluated", _ADVICE, (fact,), fact.subject)
            continue
        names = ", ".join(f"{f.name} of {f.subject}" for f in facts)
        subjects = sorted({f.subject for f in facts})
        yield Hit(f"{len(facts)} facts are unknown for one cause, {why}: {names}; rules that "
                  "need them were not evaluated", _ADVICE, tuple(facts), ", ".join(subjects))


RULES = (
    Rule("facts.unknown", Severity.WARNING, Category.PLAN, "A fact could not be determined",
         unknown_facts, ()),
)
