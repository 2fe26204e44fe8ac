"""SPF (RFC 7208): find the record, follow include/redirect, count DNS-querying terms.

More than 10 such terms make receivers answer PermError, and mail fails SPF everywhere.
Pure: the caller passes `fetch(domain) -> list of TXT strings`, so tests use a dict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

LOOKUP_LIMIT = 10
_COUNTED = {"include", "a", "mx", "ptr", "exists", "redirect"}  # RFC 7208 4.6.4


def spf_records(txt: list[str] | tuple[str, ...]) -> list[str]:
    return [t for t in txt if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def _counts(term: str) -> bool:
    name = re.split(r"[:/=]", term.lstrip("+-~?").lower(), maxsplit=1)[0]
    return name in _COUNTED


def _target(term: str) -> str | None:
    body = term.lstrip("+-~?")
    lower = body.lower()
    if lower.startswith("include:"):
        return body[8:]
    if lower.startswith("redirect="):
        return body[9:]
    return None


@dataclass
class SpfResult:
    record: str | None  # the domain's own record
    lookups: int = 0  # DNS-querying terms, recursively
    domains: list[str] = field(default_factory=list)  # every domain reached by include/redirect
    errors: list[str] = field(default_factory=list)


def evaluate_spf(domain: str, fetch: Callable[[str], list[str]]) -> SpfResult:
    own = spf_records(fetch(domain))
    result = SpfResult(record=own[0] if own else None)
    if len(own) > 1:
        result.errors.append(f"{domain} has {len(own)} SPF records (PermError)")
    if result.record:
        _walk(result.record, result, fetch, seen={domain.lower()})
    return result


def _walk(record: str, result: SpfResult, fetch: Callable[[str], list[str]],
          seen: set[str]) -> None:
    for term in record.split()[1:]:
        if not _counts(term):
            continue
        result.lookups += 1
        target = _target(term)
        if target is None:
            continue
        name = target.lower().rstrip(".")
        result.domains.append(name)
        if name in seen:
            result.errors.append(f"SPF loop through {name}")
            continue
        if "%" in name:  # macros expand per message: cannot be followed here
            continue
        records = spf_records(fetch(name))
        if not records:
            result.errors.append(f"{name} has no SPF record")
            continue
        _walk(records[0], result, fetch, seen | {name})
