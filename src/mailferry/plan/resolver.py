"""DNS lookups for the checks, as data: an answer, "no such record", or unknown.

With `[check] nameservers` the resolver asks only those servers (tests, private setups);
otherwise the system's resolvers. NXDOMAIN and NoAnswer are facts (the record does not
exist); a timeout or an unreachable server makes the fact unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.resolver
import dns.reversename


@dataclass(frozen=True)
class Lookup:
    """`records` as text (empty if none exist), `ttl` of the RRset, or `error` if unknown."""

    records: tuple[str, ...] = ()
    ttl: int | None = None
    error: str | None = None


class Resolver:
    def __init__(self, nameservers: Sequence[tuple[str, int]] = (), timeout: float = 5.0) -> None:
        if nameservers:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(address, port) for address, port in nameservers]
        else:
            self._resolver = dns.resolver.Resolver()
        self._resolver.lifetime = timeout
        self._resolver.timeout = min(timeout, 2.0)
        self._resolver.cache = None  # a check must see the records as they are now
        self.label = "dns " + (", ".join(f"{a}:{p}" for a, p in nameservers) or "system resolver")
        self._silent: str | None = None  # set after a timeout: the servers are not answering

    def lookup(self, name: str, rdtype: str) -> Lookup:
        if self._silent:  # one timeout per check run, not one per record
            return Lookup(error=f"{rdtype} {name}: not asked, {self._silent}")
        try:
            answer = self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return Lookup()
        except dns.resolver.NoNameservers as exc:
            return Lookup(error=f"{rdtype} {name}: no nameserver answered ({_first_line(exc)})")
        except dns.exception.Timeout:
            self._silent = f"{self.label} timed out on {rdtype} {name}"
            return Lookup(error=f"{rdtype} {name}: {self._silent}")  # the cause, as it follows
        except dns.exception.DNSException as exc:
            return Lookup(error=f"{rdtype} {name}: {_first_line(exc)}")
        if answer.rrset is None:
            return Lookup()
        return Lookup(tuple(_text(rdata) for rdata in answer.rrset), answer.rrset.ttl)

    def txt(self, name: str) -> Lookup:
        return self.lookup(name, "TXT")

    def reverse(self, address: str) -> Lookup:
        return self.lookup(str(dns.reversename.from_address(address)), "PTR")


def _text(rdata: object) -> str:
    # TXT strings are joined (a long SPF record is split into 255-byte strings)
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return b"".join(strings).decode("utf-8", "replace")
    return str(rdata)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
