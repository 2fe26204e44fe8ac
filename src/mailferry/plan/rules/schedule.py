"""Hazards of the dates: old accounts expiring, cutover outside a window, late notice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from mailferry.plan.facts import Category
from mailferry.plan.findings import Hit, Rule, RuleContext, Severity
from mailferry.project import in_any_window


def account_expires_early(ctx: RuleContext) -> Iterator[Hit]:
    m = ctx.migration
    expiry = m.source.account_expiry
    if expiry is None:
        return
    needed = m.cutover.date() + dt.timedelta(days=m.plan.delta_days + m.plan.rollback_days)
    if expiry < needed:
        yield Hit(f"the old accounts expire on {expiry}, before cutover {m.cutover.date()} + "
                  f"{m.plan.delta_days} day(s) of delta sync + {m.plan.rollback_days} days of "
                  f"rollback ({needed})",
                  f"Extend the old provider's contract to {needed} or later, or cut over by "
                  f"{expiry - dt.timedelta(days=m.plan.delta_days + m.plan.rollback_days)}.")


def cutover_outside_window(ctx: RuleContext) -> Iterator[Hit]:
    m = ctx.migration
    local = m.cutover.replace(tzinfo=None)
    if m.windows and not in_any_window(m.windows, local):
        yield Hit(f"the cutover {local:%a %Y-%m-%d %H:%M} ({m.timezone.key}) is outside every "
                  f"maintenance window ({'; '.join(w.text for w in m.windows)})",
                  "Move the cutover into a window, or add the window it needs.")


def first_user_date(ctx: RuleContext) -> dt.date:
    """The first day users see a change: the pilot, or the cutover without one."""
    m = ctx.migration
    if m.wave_times:  # [waves.NAME] start, or [pilot] date: the first wave to move
        return min(t.start for t in m.wave_times.values()).date()
    return m.cutover.date()


def notified_too_late(ctx: RuleContext) -> Iterator[Hit]:
    lead = ctx.migration.notify.lead_days
    first = first_user_date(ctx)
    planned = ctx.migration.notify.date
    if planned is not None:
        if (first - planned).days < lead:
            yield Hit(f"users are notified on {planned}, {(first - planned).days} day(s) before "
                      f"the first change on {first}; the lead time is {lead} days",
                      f"Notify on {first - dt.timedelta(days=lead)} or earlier.")
        return
    today = ctx.now.astimezone(ctx.migration.timezone).date()
    if (first - today).days < lead:
        yield Hit(f"users can be notified {(first - today).days} day(s) before the first "
                  f"change on {first} at best; the lead time is {lead} days",
                  f"Move the first wave to {today + dt.timedelta(days=lead)} or later, or "
                  "agree a shorter notice with the users' managers.")


RULES = (
    Rule("source.account-expires-early", Severity.ERROR, Category.PLAN,
         "Old accounts expire before cutover + delta sync + rollback", account_expires_early,
         ("delta", "monitor")),
    Rule("schedule.cutover-outside-window", Severity.ERROR, Category.PLAN,
         "Cutover outside every maintenance window", cutover_outside_window, ("cutover",)),
    Rule("notify.too-late", Severity.ERROR, Category.PLAN,
         "Users notified less than the lead time before", notified_too_late, ("pilot",)),
)
