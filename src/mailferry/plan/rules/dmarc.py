"""Hazards seen in DMARC aggregate reports after the cutover (facts from `mailferry dmarc`
or the monitor: one `dmarc.source` fact per domain and sending IP, volumes before and after
the cutover with how many messages were DMARC-aligned)."""

from __future__ import annotations

from collections.abc import Iterator

from mailferry.plan.facts import Category
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity

DMARC_SOURCE = "dmarc.source"


def unaligned_source(ctx: RuleContext) -> Iterator[Hit]:
    """A source that sends as the domain and fails alignment after the cutover: a CRM, a
    copier, a web form that went through the old provider, or whose SPF include was dropped
    when the record was rewritten for the new provider."""
    for fact in ctx.facts:
        if fact.name != DMARC_SOURCE or not fact.known:
            continue
        value = fact.value
        after, before = value["after"], value["before"]
        failing = int(after["messages"]) - int(after["aligned"])
        if failing <= 0:
            continue
        names = ", ".join(value.get("names") or []) or "no name in the reports"
        broke = int(before["aligned"]) > 0
        how = ("it was aligned before the cutover: the move broke it" if broke else
               "it was not seen aligned before the cutover")
        yield Hit(
            f"{value['source_ip']} ({names}) sent {failing} of {after['messages']} messages "
            f"as {value['domain']} after the cutover that failed DMARC alignment "
            f"(SPF aligned {after['spf_aligned']}, DKIM aligned {after['dkim_aligned']}); {how}",
            f"If this sender is yours (a CRM, a copier, a web form, a newsletter service), "
            f"authorise it: add it to the SPF record of {value['domain']} (ip4:"
            f"{value['source_ip']} or its provider's include), have it sign with DKIM as "
            f"{value['domain']}, or send its mail through the new provider. If it is not "
            "yours, it is spoofing: the DMARC policy deals with it.",
            (fact,), f"{value['domain']} {value['source_ip']}",
            severity=Severity.ERROR if broke else Severity.WARNING)


RULES = (
    Rule("dmarc.unaligned-source", Severity.ERROR, Category.DNS,
         "A sender fails DMARC alignment after the cutover", unaligned_source, ("monitor",)),
)
