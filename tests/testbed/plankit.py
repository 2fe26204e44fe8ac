"""The test world of the planner: the issue's example migration.toml, zones for the
domains it names (served by Knot in tests), and the "now" the example's dates assume."""

from __future__ import annotations

import datetime as dt

from testbed.dns import zone_text

NOW = dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC)  # "today" for the example's dates

BANK_ZONE = zone_text("bank.example", """
@ 86400 IN MX 10 mx1.oldmail.example.
@ IN TXT "v=spf1 include:spf.oldmail.example -all"
_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@bank.example"
old1._domainkey IN TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"
_imaps._tcp IN SRV 0 1 993 imap.oldmail.example.
_submission._tcp IN SRV 0 1 587 smtp.oldmail.example.
autoconfig IN CNAME autoconfig.oldmail.example.
_mta-sts IN TXT "v=STSv1; id=20260101"
""")
OLDMAIL_ZONE = zone_text("oldmail.example", """
mx1 IN A 127.0.0.1
spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
imap IN A 127.0.0.1
""")
NEWMAIL_ZONE = zone_text("newmail.example", """
mx IN A 127.0.0.1
imap IN A 127.0.0.1
spf IN TXT "v=spf1 ip4:198.51.100.0/24 include:_spf2.newmail.example -all"
_spf2 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
out26 IN A 198.51.100.26
""")
REVERSE_ZONE = zone_text("100.51.198.in-addr.arpa", """
26 IN PTR out26.newmail.example.
27 IN PTR out27.newmail.example.
""")
WORLD = {"bank.example": BANK_ZONE, "oldmail.example": OLDMAIL_ZONE,
         "newmail.example": NEWMAIL_ZONE, "100.51.198.in-addr.arpa": REVERSE_ZONE}

EXAMPLE = """\
[migration]
name = "bank"
domains = ["bank.example"]
timezone = "Asia/Kuala_Lumpur"
cutover = 2026-12-12T20:00:00          # local time in the timezone above
windows = ["Sat 00:00-Sun 23:59", "Mon-Fri 20:00-23:59"]

[source]                               # the old provider
imap = "imaps://imap.oldmail.example:993"
mx = ["mx1.oldmail.example"]
account_expiry = 2026-12-20

[target]                               # the new provider
imap = "imaps://imap.newmail.example:993"
mx = ["mx.newmail.example"]
spf_include = "spf.newmail.example"
dkim_selectors = ["nm1"]
# sending_ips = ["198.51.100.26"]

[domain]
registrar_transfer = 2026-12-10        # planned transfer to a new registrar; omit if none

[pilot]
size = 10

[plan]
backup = true                          # a backup before the first wave
fallback = "keep the old accounts and the old MX record ready to restore for 14 days"

[notify]
lead_days = 7

[check]                                # optional: private resolvers / RDAP server (tests use these)
nameservers = ["127.0.0.1:5353"]
rdap_url = "http://127.0.0.1:8053/"
"""


def example(nameserver: str = "127.0.0.1:5353", rdap_url: str = "http://127.0.0.1:8053/",
            replace: dict[str, str] | None = None) -> str:
    """The issue's example, pointed at the test servers, with lines replaced."""
    text = EXAMPLE.replace("127.0.0.1:5353", nameserver).replace("http://127.0.0.1:8053/",
                                                                 rdap_url)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return text
