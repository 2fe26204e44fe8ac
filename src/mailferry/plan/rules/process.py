"""Hazards of the way the migration is run: pilot, backup, fallback, the relay's upstreams."""

from __future__ import annotations

from collections.abc import Iterator

from mailferry.plan.facts import Category
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity


def no_pilot(ctx: RuleContext) -> Iterator[Hit]:
    pilot = ctx.migration.pilot
    if pilot is None or pilot.size == 0:
        yield Hit("there is no pilot wave: the first real users are everybody",
                  "Add [pilot] size = 10 or so, drawn from several departments, with dual "
                  "delivery, a few days before the other waves.")


def pilot_one_department(ctx: RuleContext) -> Iterator[Hit]:
    pilot = ctx.migration.pilot
    if pilot is not None and pilot.size > 0 and len(set(pilot.departments)) == 1:
        yield Hit(f"the pilot is drawn from one department only ({pilot.departments[0]}): "
                  "other departments' folders, clients and habits stay untested",
                  "Draw the pilot users from several departments.")


def no_backup(ctx: RuleContext) -> Iterator[Hit]:
    if not ctx.migration.plan.backup:
        yield Hit("no backup is taken before the first wave",
                  "Set [plan] backup = true: mailferry backs up the source mailboxes first.")


def no_fallback(ctx: RuleContext) -> Iterator[Hit]:
    if not ctx.migration.plan.fallback.strip():
        yield Hit("there is no fallback (escalation) plan",
                  "Write [plan] fallback: who decides to roll back, and how (e.g. keep the "
                  "old accounts and restore the old MX record).")


def relay_upstream_cleartext(ctx: RuleContext) -> Iterator[Hit]:
    relay = ctx.migration.relay
    if relay is None:
        return
    for name, url in relay.upstreams.items():
        verified_smtps = url.scheme == "smtps" and relay.tls_verify
        if not url.is_loopback and not url.tls_required and not verified_smtps:
            yield Hit(f"the relay delivers to {name} ({url}) over the network with "
                      "opportunistic TLS: a man in the middle who strips STARTTLS gets the "
                      "mail in clear text",
                      f'Write {name} = {{ url = "{url}", tls = "required" }} in [relay].',
                      subject=str(url))


RULES = (
    Rule("pilot.missing", Severity.WARNING, Category.PLAN, "No pilot wave", no_pilot,
         ("waves",)),
    Rule("pilot.one-department", Severity.WARNING, Category.PLAN,
         "Pilot drawn from one department only", pilot_one_department, ("waves",)),
    Rule("plan.no-backup", Severity.WARNING, Category.PLAN, "No backup step", no_backup,
         ("pilot",)),
    Rule("plan.no-fallback", Severity.WARNING, Category.PLAN, "No fallback plan", no_fallback,
         ("cutover",)),
    Rule("relay.upstream-cleartext", Severity.WARNING, Category.PLAN,
         "Relay upstream without required TLS", relay_upstream_cleartext, ("relay",)),
)
