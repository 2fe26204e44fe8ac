"""migration.toml: the issue's example is accepted; bad input names file:line:key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailferry.errors import ConfigError
from mailferry.project import load, parse
from testbed.plankit import EXAMPLE, example


def test_the_issue_example_is_accepted_as_is(tmp_path: Path) -> None:
    path = tmp_path / "migration.toml"
    path.write_text(EXAMPLE)
    m = load(path).plan
    assert m.name == "bank" and m.domains == ("bank.example",)
    assert m.cutover == dt.datetime(2026, 12, 12, 20, 0, tzinfo=m.timezone)
    assert m.cutover.utcoffset() == dt.timedelta(hours=8)
    assert [w.text for w in m.windows] == ["Sat 00:00-Sun 23:59", "Mon-Fri 20:00-23:59"]
    assert m.source.imap[0].host == "imap.oldmail.example" and m.source.imap[0].port == 993
    assert m.source.account_expiry == dt.date(2026, 12, 20)
    assert m.target.spf_include == "spf.newmail.example"
    assert m.target.dkim_selectors == ("nm1",)
    assert m.domain.registrar_transfer == dt.date(2026, 12, 10)
    assert m.pilot is not None and m.pilot.size == 10
    assert m.plan.backup and "14 days" in m.plan.fallback
    assert m.notify.lead_days == 7
    assert m.check.nameservers == (("127.0.0.1", 5353),)
    assert m.check.rdap_url == "http://127.0.0.1:8053/"
    assert m.relay is None


def test_optional_sections_take_defaults() -> None:
    m = parse(EXAMPLE.split("[domain]")[0]).plan
    assert m.pilot is None and not m.plan.backup and m.plan.fallback == ""
    assert m.notify.lead_days == 7 and m.check.nameservers == ()


def test_keys_of_later_issues_are_accepted_and_secrets_not_printed() -> None:
    m = parse(example(replace={
        'mx = ["mx1.oldmail.example"]': 'mx = ["mx1.oldmail.example"]\nauth = "plain"\n'
        'max_connections = 4\nmaster_user = "admin"\nmaster_password = "s3cret"'})).plan
    assert m.source.master_user == "admin" and m.source.max_connections == 4
    assert "s3cret" not in repr(m)


def test_relay_section_is_validated_by_the_relay() -> None:
    text = EXAMPLE + '\n[relay]\nlisten = "127.0.0.1:2525"\nbogus = 1\n'
    with pytest.raises(ConfigError, match=r"migration.toml:\d+: \[relay\] bogus"):
        _ = parse(text).plan


def test_offset_cutover_is_converted_to_the_migration_zone() -> None:
    m = parse(example(replace={"2026-12-12T20:00:00": "2026-12-12T12:00:00Z"})).plan
    assert m.cutover.hour == 20 and m.cutover.tzinfo == m.timezone


LINE_OF: dict[str, int] = {}  # key -> first line it is on
for number, line in enumerate(EXAMPLE.splitlines(), 1):
    LINE_OF.setdefault(line.split("=")[0].strip(), number)


@pytest.mark.parametrize(("old", "new", "where", "message"), [
    ("lead_days = 7", "lead_days = 7\nlead_dayz = 3", LINE_OF["lead_days"] + 1,
     r"\[notify\] lead_dayz: unknown key"),
    ("size = 10", 'size = "ten"', LINE_OF["size"], r"\[pilot\] size: expected an integer"),
    ("size = 10", "size = -1", LINE_OF["size"], r"\[pilot\] size: must be at least 0"),
    ("account_expiry = 2026-12-20", 'account_expiry = "2026-12-20"', LINE_OF["account_expiry"],
     r"\[source\] account_expiry: expected a date"),
    ("cutover = 2026-12-12T20:00:00", "cutover = 2026-12-12", LINE_OF["cutover"],
     r"\[migration\] cutover: expected a date-time"),
    ('domains = ["bank.example"]', "domains = []", LINE_OF["domains"],
     r"\[migration\] domains: list at least one domain"),
    ('domains = ["bank.example"]', 'domains = ["not a domain"]', LINE_OF["domains"],
     r"domains: 'not a domain' is not a domain name"),
    ('timezone = "Asia/Kuala_Lumpur"', 'timezone = "Mars/Olympus"', LINE_OF["timezone"],
     r"\[migration\] timezone: unknown time zone 'Mars/Olympus'"),
    ('windows = ["Sat 00:00-Sun 23:59", "Mon-Fri 20:00-23:59"]', 'windows = ["weekends"]',
     LINE_OF["windows"], r"\[migration\] windows: window 'weekends'"),
    ('imap = "imaps://imap.oldmail.example:993"', 'imap = "http://imap.oldmail.example"',
     LINE_OF["imap"], r"\[source\] imap: .*scheme must be one of imap, imaps"),
    ('nameservers = ["127.0.0.1:5353"]', 'nameservers = ["dns.example"]',
     LINE_OF["nameservers"], r"\[check\] nameservers: .*IP addresses"),
    ('rdap_url = "http://127.0.0.1:8053/"', 'rdap_url = "ftp://x"', LINE_OF["rdap_url"],
     r"\[check\] rdap_url: 'ftp://x' is not an http"),
    ("[pilot]", "[pilots]", LINE_OF["size"] - 1, r"\[pilots\]: unknown section"),
    ("cutover = 2026-12-12T20:00:00", "cutover = 2026-02-30T20:00:00", LINE_OF["cutover"],
     r"not valid TOML"),
    ("backup = true", "backup = yes", LINE_OF["backup"], r"not valid TOML"),
])
def test_bad_input_names_file_line_and_key(old: str, new: str, where: int, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^migration.toml:{where}: .*{message}"):
        _ = parse(example(replace={old: new})).plan


def test_missing_section_and_missing_key() -> None:
    with pytest.raises(ConfigError, match=r"missing section \[target\]"):
        _ = parse(EXAMPLE.split("[target]")[0]).plan
    with pytest.raises(ConfigError, match=r"migration.toml:1: \[migration\] domains: missing"):
        _ = parse(example(replace={'domains = ["bank.example"]\n': ""})).plan


def test_wall_time_skipped_by_dst_is_refused() -> None:
    text = example(replace={'"Asia/Kuala_Lumpur"': '"Europe/Berlin"',
                            "2026-12-12T20:00:00": "2026-03-29T02:30:00"})
    with pytest.raises(ConfigError, match=r"cutover: .*does not exist in Europe/Berlin"):
        _ = parse(text).plan
