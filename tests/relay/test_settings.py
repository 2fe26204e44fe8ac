"""The [relay] section: the issue's example as is, and errors that name file:line:key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailferry.errors import ConfigError
from mailferry.project import parse, parse_duration
from mailferry.urls import ServerURL

ISSUE_EXAMPLE = """\
[relay]
listen = "127.0.0.1:2525"
spool = "./spool"
domains = ["bank.example"]
old = "lmtp://127.0.0.1:24001"          # smtp://host:port, smtps://…, lmtp://host:port
new = "lmtp://127.0.0.1:24002"
default_route = "old"
routes = "routes.csv"                    # address,route   with route one of old, new, both
"""


def test_issue_example_parses_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    doc = parse(ISSUE_EXAMPLE, tmp_path / "migration.toml")
    settings = doc.relay
    assert settings is not None
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 2525)
    assert settings.spool == tmp_path / "spool"
    assert settings.routes == tmp_path / "routes.csv"
    assert settings.domains == ("bank.example",)
    assert settings.upstreams == {"old": ServerURL("lmtp", "127.0.0.1", 24001),
                                  "new": ServerURL("lmtp", "127.0.0.1", 24002)}
    assert settings.default_route == "old"
    assert settings.tls_verify is True


def test_no_relay_section_is_none(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"m.toml: missing section \[relay\]"):
        _ = parse("[users]\nfile = 'users.csv'\n", tmp_path / "m.toml").relay


@pytest.mark.parametrize(("replace", "by", "where", "words"), [
    ('old = "lmtp://127.0.0.1:24001"', 'old = "imap://127.0.0.1:24001"', ":5", "old"),
    ('old = "lmtp://127.0.0.1:24001"', 'old = "lmtp://127.0.0.1:99999"', ":5", "bad port"),
    ('domains = ["bank.example"]', 'domains = []', ":4", "domains"),
    ('domains = ["bank.example"]', 'domains = ["not a domain"]', ":4", "domains"),
    ('default_route = "old"', 'default_route = "everywhere"', ":7", "default_route"),
    ('listen = "127.0.0.1:2525"', 'listen = "2525"', ":2", "listen"),
    ('spool = "./spool"', 'spool = "./spool"\nretry_initial = "soon"', ":4", "retry_initial"),
    ('spool = "./spool"', 'spool = "./spool"\nspeed = 3', ":4", "speed"),
    ('new = "lmtp://127.0.0.1:24002"', 'new = "smtp://u:pw@x"', ":6", "credentials"),
])
def test_bad_values_name_file_line_and_key(
    tmp_path: Path, replace: str, by: str, where: str, words: str
) -> None:
    doc = parse(ISSUE_EXAMPLE.replace(replace, by), tmp_path / "migration.toml")
    with pytest.raises(ConfigError) as caught:
        _ = doc.relay
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'migration.toml'}{where}")
    assert words in message


def test_default_route_to_an_unconfigured_upstream_is_refused(tmp_path: Path) -> None:
    text = ISSUE_EXAMPLE.replace('new = "lmtp://127.0.0.1:24002"\n', "").replace(
        'default_route = "old"', 'default_route = "both"')
    with pytest.raises(ConfigError, match="default_route: routes to 'new'"):
        _ = parse(text, tmp_path / "migration.toml").relay


def test_auth_on_public_address_without_tls_is_refused(tmp_path: Path) -> None:
    text = ISSUE_EXAMPLE.replace("127.0.0.1:2525", "0.0.0.0:25") + 'auth_users = "users"\n'
    with pytest.raises(ConfigError, match="needs tls_cert"):
        _ = parse(text, tmp_path / "migration.toml").relay


@pytest.mark.parametrize(("text", "seconds"), [(30, 30.0), ("45s", 45.0), ("15m", 900.0),
                                               ("4h", 14400.0), ("5d", 432000.0), (0.5, 0.5)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_upstream_table_with_required_tls_and_listen_default(tmp_path: Path) -> None:
    text = ISSUE_EXAMPLE.replace('listen = "127.0.0.1:2525"\n', "").replace(
        'new = "lmtp://127.0.0.1:24002"',
        'new = { url = "smtp://mx.new.example", tls = "required" }')
    settings = parse(text, tmp_path / "migration.toml").relay
    assert settings is not None
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 2525)
    assert settings.upstreams["new"] == ServerURL("smtp", "mx.new.example", 25,
                                                    tls_required=True)
    assert not settings.upstreams["old"].tls_required


@pytest.mark.parametrize(("table", "words"), [
    ('{ url = "smtp://mx.new.example", tls = "maybe" }', "expected one of opportunistic"),
    ('{ tls = "required" }', "url: expected a string"),
    ('{ url = "smtp://mx.new.example", verify = false }', "unknown key 'verify'"),
])
def test_bad_upstream_tables_name_file_line_and_key(tmp_path: Path, table: str, words: str
                                                    ) -> None:
    text = ISSUE_EXAMPLE.replace('"lmtp://127.0.0.1:24002"', table)
    with pytest.raises(ConfigError) as caught:
        _ = parse(text, tmp_path / "migration.toml").relay
    assert str(caught.value).startswith(f"{tmp_path / 'migration.toml'}:6: [relay] new")
    assert words in str(caught.value)
