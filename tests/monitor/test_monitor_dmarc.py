"""DMARC aggregate reports, generated here as reporters send them (plain XML, gzip, zip, and
a report mail with a zip attachment delivered to an IMAP folder): a source that sends as the
domain, was aligned before the cutover and fails after it is the finding
`dmarc.unaligned-source` with advice; a report read twice counts once."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from mailferry.monitor import CheckStatus, run_pass
from testbed import imap_login
from testbed.monitorkit import CUTOVER, World

NEW_PROVIDER = "198.51.100.26"
CRM = "203.0.113.77"  # a CRM sending as bank.example, through the old provider's SPF


def aggregate_xml(report_id: str, begin: dt.datetime, rows: list[tuple[str, int, str, str]],
                  org: str = "google.com") -> bytes:
    """rows: (source IP, count, SPF result, DKIM result), header_from bank.example."""
    records = "".join(f"""
  <record>
    <row><source_ip>{ip}</source_ip><count>{count}</count>
      <policy_evaluated><disposition>none</disposition><dkim>{dkim}</dkim><spf>{spf}</spf>
      </policy_evaluated></row>
    <identifiers><header_from>bank.example</header_from></identifiers>
    <auth_results>
      {"<dkim><domain>bank.example</domain><selector>nm1</selector><result>pass</result></dkim>"
       if dkim == "pass" else ""}
      <spf><domain>{"bank.example" if spf == "pass" else "crm.example"}</domain>
        <result>pass</result></spf>
    </auth_results>
  </record>""" for ip, count, spf, dkim in rows)
    end = begin + dt.timedelta(days=1) - dt.timedelta(seconds=1)
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata><org_name>{org}</org_name><email>noreply-dmarc@{org}</email>
    <report_id>{report_id}</report_id>
    <date_range><begin>{int(begin.timestamp())}</begin><end>{int(end.timestamp())}</end>
    </date_range></report_metadata>
  <policy_published><domain>bank.example</domain><adkim>r</adkim><aspf>r</aspf>
    <p>quarantine</p><sp>quarantine</sp><pct>100</pct></policy_published>{records}
</feedback>""".encode()


BEFORE = CUTOVER - dt.timedelta(days=3)
AFTER = CUTOVER + dt.timedelta(days=2)


def write_reports(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    before = aggregate_xml("r-before", BEFORE, [(CRM, 12, "pass", "fail"),
                                                (NEW_PROVIDER, 40, "pass", "pass")])
    (directory / "google.com!bank.example!before.xml").write_bytes(before)
    after = aggregate_xml("r-after", AFTER, [(CRM, 9, "fail", "fail"),
                                             (NEW_PROVIDER, 55, "pass", "pass")])
    (directory / "google.com!bank.example!after.xml.gz").write_bytes(gzip.compress(after))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("yahoo.com!bank.example!after.xml",
                         aggregate_xml("y-after", AFTER, [(NEW_PROVIDER, 5, "pass", "pass")],
                                       org="yahoo.com"))
    (directory / "yahoo.zip").write_bytes(buffer.getvalue())
    # a report whose day straddles the cutover counts on the side of its middle (before)
    straddling = aggregate_xml("r-straddling", CUTOVER - dt.timedelta(hours=20),
                               [(NEW_PROVIDER, 7, "pass", "pass")])
    (directory / "google.com!bank.example!straddling.xml").write_bytes(straddling)
    (directory / "notes.txt").write_text("not a report\n")


def mailferry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], capture_output=True,
                          text=True, timeout=300)


def test_a_source_that_broke_at_the_cutover_is_a_finding_with_advice(
        world: Callable[..., World], tmp_path: Path) -> None:
    w = world(with_relay=False)
    reports = tmp_path / "reports"
    write_reports(reports)
    now = (CUTOVER + dt.timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S")
    done = mailferry("dmarc", str(reports), "--project", str(w.toml), "--now", now, "--json")
    assert done.returncode == 1, done.stderr  # an error finding
    out = json.loads(done.stdout)
    assert out["ingested"] == 4 and out["already_known"] == 0
    assert [s.split(":")[0] for s in out["skipped"]] == [str(reports / "notes.txt")]
    rows = {r["source_ip"]: r for r in out["sources"]}
    assert rows[CRM]["before"] == {"messages": 12, "aligned": 12, "spf_aligned": 12,
                                   "dkim_aligned": 0}
    assert rows[CRM]["after"] == {"messages": 9, "aligned": 0, "spf_aligned": 0,
                                  "dkim_aligned": 0}
    assert rows[NEW_PROVIDER]["after"]["messages"] == 60  # google and yahoo
    assert rows[NEW_PROVIDER]["before"]["messages"] == 47  # with the straddling day
    assert "crm.example" in rows[CRM]["names"]
    (finding,) = out["findings"]
    assert finding["rule"] == "dmarc.unaligned-source" and finding["severity"] == "error"
    assert finding["subject"] == f"bank.example {CRM}"
    assert "9 of 9 messages" in finding["message"] and "the move broke it" in finding["message"]
    assert f"ip4:{CRM}" in finding["advice"]

    again = mailferry("dmarc", str(reports), "--project", str(w.toml), "--now", now, "--json")
    out = json.loads(again.stdout)
    assert (out["ingested"], out["already_known"]) == (0, 4)  # nothing counted twice
    assert {r["source_ip"]: r["after"]["messages"] for r in out["sources"]} == {
        CRM: 9, NEW_PROVIDER: 60}


def test_the_monitor_reads_reports_delivered_to_an_imap_folder(
        world: Callable[..., World]) -> None:
    """Reporters mail their reports (a zip attachment) to the rua address: the monitor reads
    that folder (read-only) and raises the finding as an alert."""
    w = world(with_relay=False, monitor_extra='dmarc_user = "dmarc"\ndmarc_folder = "INBOX"\n')
    conn = imap_login(w.new.host, w.new.port, "dmarc", w.new.password("dmarc"))
    try:
        for report_id, begin, rows in (
                ("m-before", BEFORE, [(CRM, 4, "pass", "fail")]),
                ("m-after", AFTER, [(CRM, 6, "fail", "fail")])):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(f"google.com!bank.example!{report_id}.xml",
                                 aggregate_xml(report_id, begin, rows))
            message = EmailMessage()
            message["From"] = "noreply-dmarc-support@google.com"
            message["To"] = "dmarc@bank.example"
            message["Subject"] = f"Report domain: bank.example Report-ID: {report_id}"
            message.set_content("This is an aggregate report from google.com.")
            message.add_attachment(buffer.getvalue(), maintype="application", subtype="zip",
                                   filename=f"google.com!bank.example!{report_id}.zip")
            conn.append("INBOX", "", None, message.as_bytes())
    finally:
        conn.logout()
    ctx = w.context(CUTOVER + dt.timedelta(days=4))
    try:
        first = run_pass(ctx)
        second = run_pass(ctx)
    finally:
        ctx.state.close()
    for result in (first, second):
        (alert,) = [c for c in result.checks if c.area == "dmarc" and
                    c.status == CheckStatus.ALERT]
        assert alert.subject == f"bank.example {CRM}" and "6 of 6 messages" in alert.message
    # the folder was only read: both report mails are still there, unread
    conn = imap_login(w.new.host, w.new.port, "dmarc", w.new.password("dmarc"))
    try:
        conn.select("INBOX", readonly=True)
        _, unseen = conn.search(None, "UNSEEN")
    finally:
        conn.logout()
    assert len(unseen[0].split()) == 2
