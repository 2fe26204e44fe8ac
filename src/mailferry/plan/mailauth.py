"""DMARC (RFC 7489) and DKIM (RFC 6376) records: pure parsing of their tag lists."""

from __future__ import annotations

from dataclasses import dataclass


def parse_tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = value.strip()
    return tags


@dataclass(frozen=True)
class Dmarc:
    record: str
    policy: str  # none, quarantine, reject ("" if missing: an invalid record)
    pct: int

    @property
    def enforcing(self) -> bool:
        """Receivers quarantine or reject mail that fails: unsigned new-provider mail suffers."""
        return self.policy in ("quarantine", "reject") and self.pct > 0


def parse_dmarc(txt: list[str] | tuple[str, ...]) -> Dmarc | None:
    records = [t for t in txt if t.replace(" ", "").lower().startswith("v=dmarc1")]
    if not records:
        return None
    tags = parse_tags(records[0])
    try:
        pct = int(tags.get("pct", "100"))
    except ValueError:
        pct = 100  # RFC 7489 6.6.3: an invalid pct is ignored
    return Dmarc(records[0], tags.get("p", "").lower(), pct)


def dkim_has_key(txt: list[str] | tuple[str, ...]) -> bool:
    """A DKIM key record with a non-empty p= (an empty p= means the key was revoked)."""
    for record in txt:
        tags = parse_tags(record)
        if tags.get("v", "DKIM1").upper() == "DKIM1" and tags.get("p"):
            return True
    return False
