"""Facts that could not be found: reported, never guessed."""

from __future__ import annotations

from collections.abc import Iterator

from mailferry.plan.facts import Category
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity


def unknown_facts(ctx: RuleContext) -> Iterator[Hit]:
    for fact in ctx.facts.unknown():
        yield Hit(f"{fact.name} of {fact.subject} is unknown: {fact.error}; rules that need "
                  "it were not evaluated", "Make the source reachable (see [check] for private "
                  "resolvers and RDAP servers) and run the check again.", (fact,), fact.subject)


RULES = (
    Rule("facts.unknown", Severity.WARNING, Category.PLAN, "A fact could not be determined",
         unknown_facts, ()),
)
