"""`mailferry check` as a person reads it, through a pipe at 80 columns: findings with one
cause (a DNS server that never answers, an RDAP server that refuses) are one finding with a
count, and text in brackets ("see [check] for ...") is printed as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from testbed.dns import KnotDns, free_udp_tcp_port
from testbed.plankit import example

MAILFERRY = [sys.executable, "-m", "mailferry"]


def check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, "check", str(path), "--only", "domain,dns,plan",
                           "--now", "2026-11-22T04:00:00", *extra], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "80"})


def unknown_findings(path: Path) -> list[dict[str, Any]]:
    done = check(path, "--json")
    return [f for f in json.loads(done.stdout)["findings"] if f["rule"] == "facts.unknown"]


def test_one_cause_is_one_finding_with_a_count(knot: KnotDns, tmp_path: Path) -> None:
    dead = free_udp_tcp_port()  # a loopback port where nothing ever answers
    silent = tmp_path / "silent.toml"
    silent.write_text(example(f"127.0.0.1:{dead}", f"http://127.0.0.1:{dead}/",
                              {"[check]": "[check]\ntimeout = 1",
                               "registrar_transfer = 2026-12-10": ""}))
    found = unknown_findings(silent)
    by_source = sorted(len(f["facts"]) for f in found)
    assert len(found) == 2, found  # the DNS timeout, the refused RDAP: not 24 findings
    dns = next(f for f in found if "timed out" in f["message"])
    assert len(dns["facts"]) == by_source[-1] >= 15
    assert dns["message"].startswith(f"{len(dns['facts'])} facts are unknown for one cause")
    assert all(fact["name"] in dns["message"] for fact in dns["facts"])  # each one named

    done = check(silent)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert text.count("facts.unknown") == 2, done.stdout
    assert "see [check] for private resolvers" in text, done.stdout
    assert dns["message"] in text, done.stdout  # never cut

    # Knot answers: DNS facts are known, only the refused RDAP server's 7 are one finding
    answered = tmp_path / "answered.toml"
    answered.write_text(example(knot.nameserver, f"http://127.0.0.1:{dead}/"))
    (rdap,) = unknown_findings(answered)
    assert len(rdap["facts"]) == 7 and rdap["message"].startswith("7 facts are unknown")
    assert {fact["name"].split(".")[0] for fact in rdap["facts"]} == {"rdap"}
