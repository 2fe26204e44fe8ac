"""`mailferry check` end to end against real local servers: Knot DNS, an RDAP server,
Dovecot. Also what happens when DNS or RDAP cannot be reached: unknown facts, no crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mailferry.cli import main
from testbed.dns import KnotDns, free_udp_tcp_port, zone_text
from testbed.plankit import WORLD, example
from testbed.rdap import RdapServer, rdap_domain


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def check_json(path: Path, capsys: pytest.CaptureFixture[str], *extra: str
               ) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(["check", str(path), "--json", "--now", "2026-11-22T04:00:00", *extra],
                       capsys)
    return code, json.loads(out)


def rules(report: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in report["findings"]}


def test_example_against_real_dns_and_rdap(knot: KnotDns, rdap: RdapServer,
                                           write_migration: Callable[..., Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = write_migration(example(knot.nameserver, rdap.url))
    code, report = check_json(path, capsys, "--only", "domain,dns,plan")
    assert code == 1
    assert rdap.requests == ["/domain/bank.example"]  # no bootstrap download
    facts = {f"{f['name']}[{f['subject']}]": f for f in report["facts"]}
    assert facts["dns.mx[bank.example]"]["value"]["ttl"] == 86400
    assert facts["dns.mx[bank.example]"]["source"] == f"dns {knot.nameserver}"
    assert facts["rdap.status[bank.example]"]["value"] == ["clientDeleteProhibited",
                                                           "clientTransferProhibited"]
    assert all(f["observed_at"].startswith("20") for f in report["facts"])
    assert {"domain.transfer-during-dns-change", "domain.transfer-locked",
            "spf.new-provider-missing", "dkim.missing-under-dmarc"} <= rules(report)
    assert "facts.unknown" not in rules(report)
    finding = next(f for f in report["findings"] if f["rule"] == "dkim.missing-under-dmarc")
    assert finding["severity"] == "error" and finding["advice"]
    assert {f["name"] for f in finding["facts"]} == {"dmarc", "dkim"}


def test_a_fixed_dns_makes_the_dns_hazards_go_away(
        knot_factory: Callable[[dict[str, str]], KnotDns], rdap: RdapServer,
        write_migration: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    fixed = zone_text("bank.example", """
@ 300 IN MX 10 mx1.oldmail.example.
@ IN TXT "v=spf1 include:spf.oldmail.example include:spf.newmail.example -all"
_dmarc IN TXT "v=DMARC1; p=reject"
nm1._domainkey IN TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"
""")
    knot = knot_factory({**WORLD, "bank.example": fixed})
    path = write_migration(example(knot.nameserver, rdap.url))
    _, report = check_json(path, capsys, "--only", "dns")
    assert not rules(report) & {"spf.new-provider-missing", "dkim.missing-under-dmarc",
                                "spf.too-many-lookups", "facts.unknown"}


def test_unreachable_dns_and_rdap_give_unknown_facts(
        write_migration: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    dead = free_udp_tcp_port()  # nothing listens there
    path = write_migration(example(f"127.0.0.1:{dead}", f"http://127.0.0.1:{dead}/",
                                   {"[check]": "[check]\ntimeout = 1",
                                    "registrar_transfer = 2026-12-10": ""}))
    code, report = check_json(path, capsys, "--only", "domain,dns")
    assert code == 0  # warnings only: nothing was guessed
    unknown = [f for f in report["facts"] if not f["known"]]
    assert unknown and all(f["value"] is None and f["error"] for f in unknown)
    assert {f["name"] for f in unknown} >= {"rdap.status", "dns.mx", "spf", "dmarc"}
    assert rules(report) == {"facts.unknown"}


@pytest.mark.parametrize(("override", "expected"), [
    (500, "HTTP 500"), (None, "does not know this domain (404)"),
])
def test_rdap_errors_are_reported(rdap: RdapServer, knot: KnotDns, override: int | None,
                                  expected: str, write_migration: Callable[..., Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    rdap.status_override = override
    rdap.domains.clear()
    path = write_migration(example(knot.nameserver, rdap.url))
    _, report = check_json(path, capsys, "--only", "domain")
    status = next(f for f in report["facts"] if f["name"] == "rdap.status")
    assert not status["known"] and expected in status["error"]


def test_pending_transfer_seen_by_rdap_blocks_dns(
        rdap: RdapServer, knot: KnotDns, write_migration: Callable[..., Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    rdap.domains["bank.example"] = rdap_domain(
        "bank.example", status=["pending transfer", "client update prohibited"],
        events={"registration": "2009-03-11T09:27:04Z", "transfer": "2025-01-02T03:04:05Z",
                "expiration": "2029-03-11T09:27:04Z"})
    path = write_migration(example(knot.nameserver, rdap.url,
                                   {"registrar_transfer = 2026-12-10": ""}))
    code, out, _ = run(["check", str(path), "--json", "--only", "domain,dns",
                        "--now", "2026-12-09T00:00:00"], capsys)
    report = json.loads(out)
    assert code == 1
    assert {"domain.transfer-during-dns-change", "domain.update-locked"} <= rules(report)
    transfer = next(f for f in report["facts"] if f["name"] == "rdap.last_transfer")
    assert transfer["value"] == "2025-01-02T03:04:05+00:00"


def test_cli_options_override_the_check_section(
        knot: KnotDns, rdap: RdapServer, write_migration: Callable[..., Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_migration(example("127.0.0.1:1", "http://127.0.0.1:1/"))
    _, report = check_json(path, capsys, "--only", "domain,dns",
                           "--nameserver", knot.nameserver, "--rdap-url", rdap.url)
    assert "facts.unknown" not in rules(report)
    assert rdap.requests == ["/domain/bank.example"]


def test_human_output_lists_findings(knot: KnotDns, rdap: RdapServer,
                                     write_migration: Callable[..., Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = write_migration(example(knot.nameserver, rdap.url))
    code, out, _ = run(["check", str(path), "--only", "plan,dns", "--now", "2026-11-22"],
                       capsys)
    assert code == 1 and "dkim.missing-under-dmarc" in out and "error" in out


@pytest.mark.parametrize("argv", [
    ["check", "MISSING.toml"], ["check", "{path}", "--only", "dns,weather"],
    ["check", "{path}", "--nameserver", "dns.example"], ["plan", "{path}", "--format", "pdf"],
])
def test_bad_usage_exits_2(argv: list[str], write_migration: Callable[..., Path],
                           capsys: pytest.CaptureFixture[str]) -> None:
    path = write_migration(example())
    code, _, err = run([a.format(path=path) for a in argv], capsys)
    assert code == 2 and err


def test_bad_migration_file_exits_2_naming_file_line_key(
        write_migration: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = write_migration(example(replace={"lead_days = 7": "lead_days = \"soon\""}))
    code, _, err = run(["check", str(path)], capsys)
    assert code == 2
    line = example().splitlines().index("lead_days = 7") + 1
    assert f"{path}:{line}: [notify] lead_days: expected an integer" in err
