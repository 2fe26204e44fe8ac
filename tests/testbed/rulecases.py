"""The hazard rules' table: (rule, replacements in the example migration.toml, facts, now,
fires). Shared by test_rules.py (fires or not) and test_rule_texts.py (what it says)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mailferry.plan import Fact
from testbed.plankit import NOW

CUTOVER = dt.datetime(2026, 12, 12, 12, 0, tzinfo=dt.UTC)  # the example's, in UTC
TRANSFER_LINE = "registrar_transfer = 2026-12-10"
NO_TRANSFER = {TRANSFER_LINE: ""}


def known(name: str, subject: str, value: Any) -> Fact:
    return Fact(name, subject, value, NOW, "test")


def status(*codes: str) -> Fact:
    return known("rdap.status", "bank.example", list(codes))


def mx(ttl: int) -> Fact:
    return known("dns.mx", "bank.example", {"records": [{"preference": 10,
                                                         "exchange": "mx1.oldmail.example"}],
                                             "ttl": ttl})


def spf(lookups: int, domains: list[str], record: str | None = "v=spf1 -all",
        subject: str = "bank.example") -> Fact:
    return known("spf", subject, {"record": record, "lookups": lookups, "domains": domains,
                                  "errors": []})


def dmarc(policy: str) -> Fact:
    return known("dmarc", "bank.example", {"record": f"v=DMARC1; p={policy}", "policy": policy,
                                           "pct": 100, "enforcing": policy != "none"})


def dkim(has_key: bool) -> Fact:
    return known("dkim", "nm1._domainkey.bank.example", {"records": [], "has_key": has_key})


def ptr(names: list[str], matching: list[str]) -> Fact:
    return known("ptr", "198.51.100.26", {"names": names, "forward_match": matching})


SERVER = "imap://imap.newmail.example:993"


def tls(verified: bool, not_after: str | None = "2027-06-01T00:00:00+00:00") -> Fact:
    return known("tls", SERVER, {"mode": "implicit", "verified": verified,
                                 "error": None if verified else "self-signed certificate",
                                 "not_after": not_after})


def caps(names: list[str], after_login: bool = True) -> Fact:
    return known("capabilities", SERVER, {"protocol": "imap", "list": names,
                                          "after_login": after_login, "login_error": None})


ALL_CAPS = ["IMAP4rev1", "UIDPLUS", "CONDSTORE", "SPECIAL-USE", "MOVE", "LITERAL+"]
SENDING = {'# sending_ips = ["198.51.100.26"]': 'sending_ips = ["198.51.100.26"]'}

def dmarc_source(before: tuple[int, int], after: tuple[int, int]) -> Fact:
    """A sending source in DMARC aggregate reports: (messages, aligned) per side."""
    def side(messages: int, aligned: int) -> dict[str, int]:
        return {"messages": messages, "aligned": aligned, "spf_aligned": aligned,
                "dkim_aligned": 0}

    return known("dmarc.source", "bank.example 203.0.113.77", {
        "domain": "bank.example", "source_ip": "203.0.113.77", "names": ["crm.example"],
        "before": side(*before), "after": side(*after)})


TWO = {'domains = ["bank.example"]': 'domains = ["other.example", "bank.example"]'}
RELAY = ('[relay]\nspool = "spool"\ndomains = ["bank.example"]\nold = "lmtp://127.0.0.1:24"\n'
         'new = {new}\n\n[check]')
# (rule, replacements in the example, facts, now, fires)
CASES: list[tuple[str, dict[str, str], list[Fact], dt.datetime, bool]] = [
    ("domain.transfer-during-dns-change", {}, [], NOW, True),
    ("domain.transfer-during-dns-change", {}, [mx(300)], NOW, True),
    ("domain.transfer-during-dns-change", {TRANSFER_LINE: "registrar_transfer = 2027-01-10"},
     [], NOW, False),
    ("domain.transfer-during-dns-change", NO_TRANSFER, [status("pendingTransfer")],
     CUTOVER - dt.timedelta(days=3), True),
    ("domain.transfer-during-dns-change", NO_TRANSFER, [status("pendingTransfer"), mx(86400)],
     NOW, False),  # the transfer completes before the TTL must be lowered
    ("domain.transfer-during-dns-change", NO_TRANSFER, [status("clientTransferProhibited")],
     NOW, False),
    ("domain.transfer-locked", {}, [status("clientTransferProhibited")], NOW, True),
    ("domain.transfer-locked", {}, [status("serverTransferProhibited")], NOW, True),
    ("domain.transfer-locked", NO_TRANSFER, [status("clientTransferProhibited")], NOW, False),
    ("domain.transfer-locked", {}, [status("ok")], NOW, False),
    ("domain.update-locked", {}, [status("clientUpdateProhibited")], NOW, True),
    ("domain.update-locked", {}, [status("clientTransferProhibited")], NOW, False),
    ("domain.transfer-too-soon", {}, [known("rdap.registered", "bank.example",
                                            "2026-11-01T00:00:00+00:00")], NOW, True),
    ("domain.transfer-too-soon", {}, [known("rdap.last_transfer", "bank.example",
                                            "2026-10-20T00:00:00+00:00")], NOW, True),
    ("domain.transfer-too-soon", {}, [known("rdap.registered", "bank.example",
                                            "2009-03-11T09:27:04+00:00")], NOW, False),
    ("domain.transfer-too-soon", NO_TRANSFER, [known("rdap.registered", "bank.example",
                                                     "2026-11-01T00:00:00+00:00")], NOW, False),
    ("domain.expires-soon", {}, [known("rdap.expires", "bank.example",
                                       "2027-01-15T00:00:00+00:00")], NOW, True),
    ("domain.expires-soon", {}, [known("rdap.expires", "bank.example",
                                       "2029-03-11T09:27:04+00:00")], NOW, False),
    ("domain.on-hold", {}, [status("serverHold")], NOW, True),
    ("domain.on-hold", {}, [status("redemptionPeriod", "pendingDelete")], NOW, True),
    ("domain.on-hold", {}, [status("ok")], NOW, False),
    ("dns.mx-ttl-too-high", {}, [mx(86400)], CUTOVER - dt.timedelta(hours=12), True),
    ("dns.mx-ttl-too-high", {}, [mx(86400)], NOW, False),
    ("dns.mx-ttl-too-high", {}, [mx(300)], CUTOVER - dt.timedelta(hours=1), False),
    ("spf.new-provider-missing", {}, [spf(1, ["spf.oldmail.example"])], NOW, True),
    ("spf.new-provider-missing", {}, [spf(0, [], record=None)], NOW, True),
    ("spf.new-provider-missing", {}, [spf(2, ["spf.oldmail.example", "spf.newmail.example"])],
     NOW, False),
    ("spf.too-many-lookups", {}, [spf(11, ["spf.newmail.example"])], NOW, True),
    ("spf.too-many-lookups", {}, [spf(9, []), spf(1, [], subject="spf.newmail.example")],
     NOW, True),  # adding the include makes 11
    ("spf.too-many-lookups", {}, [spf(8, []), spf(1, [], subject="spf.newmail.example")],
     NOW, False),  # exactly 10 is allowed
    ("dkim.missing-under-dmarc", {}, [dmarc("reject"), dkim(False)], NOW, True),
    ("dkim.missing-under-dmarc", {'dkim_selectors = ["nm1"]': ""}, [dmarc("quarantine")],
     NOW, True),
    ("dkim.missing-under-dmarc", {}, [dmarc("reject"), dkim(True)], NOW, False),
    ("dkim.missing-under-dmarc", {}, [dmarc("none"), dkim(False)], NOW, False),
    ("ptr.mismatch", SENDING, [ptr([], [])], NOW, True),
    ("ptr.mismatch", SENDING, [ptr(["out.newmail.example"], [])], NOW, True),
    ("ptr.mismatch", SENDING, [ptr(["out.newmail.example"], ["out.newmail.example"])], NOW,
     False),
    ("server.unreachable", {}, [known("server.reachable", SERVER, {
        "side": "target", "reachable": False, "error": "refused"})], NOW, True),
    ("server.unreachable", {}, [known("server.reachable", SERVER, {
        "side": "target", "reachable": True, "error": None})], NOW, False),
    ("tls.invalid", {}, [tls(False)], NOW, True),
    ("tls.invalid", {}, [tls(True)], NOW, False),
    ("tls.expires-soon", {}, [tls(True, "2026-12-15T00:00:00+00:00")], NOW, True),
    ("tls.expires-soon", {}, [tls(True)], NOW, False),
    ("imap.missing-capabilities", {}, [caps(ALL_CAPS[:-2])], NOW, True),
    ("imap.missing-capabilities", {}, [caps(ALL_CAPS)], NOW, False),
    ("imap.missing-capabilities", {}, [caps(["IMAP4rev1"], after_login=False)], NOW, False),
    ("source.account-expires-early", {"2026-12-20": "2026-12-18"}, [], NOW, True),
    ("source.account-expires-early", {"backup = true": "backup = true\nrollback_days = 14"}, [],
     NOW, True),
    ("source.account-expires-early", {}, [], NOW, False),
    ("schedule.cutover-outside-window", {"2026-12-12T20:00:00": "2026-12-14T10:00:00"}, [],
     NOW, True),
    ("schedule.cutover-outside-window", {}, [], NOW, False),
    ("notify.too-late", {"lead_days = 7": "lead_days = 7\ndate = 2026-12-10"}, [], NOW, True),
    ("notify.too-late", {"lead_days = 7": "lead_days = 7\ndate = 2026-12-01"}, [], NOW, False),
    ("notify.too-late", {}, [], CUTOVER - dt.timedelta(days=4), True),
    ("notify.too-late", {"size = 10": "size = 10\ndate = 2026-11-25"}, [], NOW, True),
    ("notify.too-late", {}, [], NOW, False),
    ("pilot.missing", {"size = 10": "size = 0"}, [], NOW, True),
    ("pilot.missing", {"[pilot]\nsize = 10": ""}, [], NOW, True),
    ("pilot.missing", {}, [], NOW, False),
    ("pilot.one-department", {"size = 10": 'size = 10\ndepartments = ["it"]'}, [], NOW, True),
    ("pilot.one-department", {"size = 10": 'size = 10\ndepartments = ["it", "sales"]'}, [],
     NOW, False),
    ("plan.no-backup", {"backup = true": "backup = false"}, [], NOW, True),
    ("plan.no-backup", {}, [], NOW, False),
    ("plan.no-fallback", {'fallback = "keep': 'fallback = "" # "keep'}, [], NOW, True),
    ("plan.no-fallback", {}, [], NOW, False),
    ("relay.upstream-cleartext", {"[check]": RELAY.format(new='"smtp://mx.newmail.example"')},
     [], NOW, True),
    ("relay.upstream-cleartext", {"[check]": RELAY.format(
        new='{ url = "smtp://mx.newmail.example", tls = "required" }')}, [], NOW, False),
    ("facts.unknown", {}, [Fact("dns.mx", "bank.example", None, NOW, "dns 127.0.0.1:9",
                                "MX bank.example: timed out")], NOW, True),
    ("facts.unknown", {}, [mx(300)], NOW, False),
    # each rule looks at every domain, IP and server: the one that fires comes after one
    # that has nothing to say (a rule that stopped at the first would miss it)
    ("dns.mx-ttl-too-high", TWO, [known("dns.mx", "other.example", {"records": [], "ttl": 0}),
                                  mx(86400)], CUTOVER - dt.timedelta(hours=12), True),
    ("spf.new-provider-missing", TWO, [spf(1, ["spf.oldmail.example"])], NOW, True),
    ("spf.too-many-lookups", TWO, [spf(0, [], record=None, subject="other.example"),
                                   spf(11, []), spf(1, [], subject="spf.newmail.example")],
     NOW, True),
    ("spf.too-many-lookups", TWO, [spf(12, [], subject="other.example"), spf(11, []),
                                   spf(1, [], subject="spf.newmail.example")], NOW, True),
    ("dkim.missing-under-dmarc", TWO, [
        known("dmarc", "other.example", {"record": "v=DMARC1; p=reject", "policy": "reject",
                                         "pct": 100, "enforcing": True}),
        dmarc("reject"), dkim(False)], NOW, True),
    ("domain.transfer-locked", TWO, [status("clientTransferProhibited")], NOW, True),
    ("domain.update-locked", TWO, [status("serverUpdateProhibited")], NOW, True),
    ("domain.transfer-too-soon", TWO, [
        known("rdap.last_transfer", "bank.example", None),
        known("rdap.registered", "bank.example", "2026-11-01T00:00:00+00:00")], NOW, True),
    ("domain.expires-soon", TWO, [known("rdap.expires", "bank.example",
                                        "2027-01-15T00:00:00+00:00")], NOW, True),
    ("domain.on-hold", TWO, [status("clientHold")], NOW, True),
    ("ptr.mismatch", {'# sending_ips = ["198.51.100.26"]':
                      'sending_ips = ["198.51.100.25", "198.51.100.26"]'},
     [ptr(["out.newmail.example"], [])], NOW, True),
    ("tls.invalid", {}, [mx(300), tls(True), known("tls", "imap://other:993", {
        "mode": "starttls", "verified": False, "error": "expired", "not_after": None})],
     NOW, True),
    ("tls.expires-soon", {}, [mx(300), tls(True, None), known("tls", "imap://other:993", {
        "mode": "implicit", "verified": True, "error": None,
        "not_after": "2026-12-19T23:00:00+00:00"})], NOW, True),
    ("imap.missing-capabilities", {}, [mx(300), caps(["IMAP4rev1"], after_login=False),
                                       known("capabilities", "imap://other:993", {
                                           "protocol": "imap", "list": ["imap4rev1", "uidplus"],
                                           "after_login": True, "login_error": None})],
     NOW, True),
    ("server.unreachable", {}, [mx(300), known("server.reachable", SERVER, {
        "side": "source", "reachable": True, "error": None}), known(
        "server.reachable", "imap://other:993", {"side": "source", "reachable": False,
                                                 "error": "timed out"})], NOW, True),
    # added on main by the planner's issues
    ("clients.discovery-old-provider", {}, [known("dns.srv", "_imaps._tcp.bank.example",
                                                  ["0 1 993 imap.oldmail.example."])], NOW, True),
    ("clients.discovery-old-provider", {}, [known("dns.cname", "autoconfig.bank.example",
                                                  ["autoconfig.oldmail.example"])], NOW, True),
    ("clients.discovery-old-provider", {}, [
        known("dns.srv", "_imaps._tcp.bank.example", ["0 1 993 imap.newmail.example."]),
        known("dns.srv", "_submission._tcp.bank.example", ["0 0 0 ."]),
        known("dns.cname", "autodiscover.bank.example", ["autodiscover.newmail.example"])],
     NOW, False),
    ("mta-sts.new-mx-not-covered", {}, [known("mta_sts.policy", "bank.example", {
        "mode": "enforce", "mx": ["mx1.oldmail.example"], "max_age": 86400})], NOW, True),
    ("mta-sts.new-mx-not-covered", {}, [known("mta_sts.policy", "bank.example", {
        "mode": "enforce", "mx": ["*.newmail.example", "mx1.oldmail.example"],
        "max_age": 86400})], NOW, False),
    ("mta-sts.new-mx-not-covered", {}, [known("mta_sts.policy", "bank.example", {
        "mode": "enforce", "mx": ["*.mx.newmail.example"], "max_age": 86400})], NOW, True),
    ("mta-sts.new-mx-not-covered", {}, [known("mta_sts.policy", "bank.example", None)],
     NOW, False),
    ("dmarc.unaligned-source", {}, [dmarc_source(before=(12, 12), after=(9, 0))], NOW, True),
    ("dmarc.unaligned-source", {}, [dmarc_source(before=(0, 0), after=(5, 2))], NOW, True),
    ("dmarc.unaligned-source", {}, [dmarc_source(before=(12, 0), after=(9, 9))], NOW, False),
]


def case_id(index: int) -> str:
    return f"{CASES[index][0]}-{index}"
