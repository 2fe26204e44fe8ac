"""users.csv, secrets and the project sections of migration.toml: no sockets, table-driven."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mailferry.errors import ConfigError
from mailferry.project import (
    TokenSource,
    assign_waves,
    load,
    load_secrets,
    load_users,
    parse,
    parse_users,
    resolve_secret,
)
from testbed.plankit import EXAMPLE as ISSUE3_EXAMPLE

ISSUE5_EXAMPLE = (r'''[source]
imap = "imap://127.0.0.1:14301"        # imaps://… in real life; plain only to loopback
auth = "password"                      # password | master | xoauth2
max_connections = 8

[target]
imap = "imap://127.0.0.1:14302"
auth = "master"
master_user = "admin"
master_password = "env:NEW_MASTER_PASSWORD"   # env:NAME or file:PATH, never the secret itself

[users]
file = "users.csv"
secrets = "secrets.csv"                # user,source_password,target_password'''
    r''' (for auth = "password")

[filters]
exclude_special = ["\\Trash", "\\Junk"]  # as announced to users: the trash does not move
exclude = ["Old/*"]
''')


def test_the_issue_5_example_loads_as_is(tmp_path: Path) -> None:
    path = tmp_path / "migration.toml"
    path.write_text(ISSUE5_EXAMPLE)
    project = load(path).sync
    assert project.source.auth == "password" and project.source.max_connections == 8
    assert (project.target.auth, project.target.master_user) == ("master", "admin")
    assert project.users_file == tmp_path / "users.csv"
    assert project.secrets_file == tmp_path / "secrets.csv"
    assert project.filters.exclude_special == ("\\Trash", "\\Junk")
    assert project.filters.exclude == ("Old/*",)
    assert "NEW_MASTER_PASSWORD" not in repr(project)  # the reference is not printed either


def test_the_issue_3_example_still_loads_and_takes_the_project_sections(tmp_path: Path) -> None:
    path = tmp_path / "migration.toml"
    path.write_text(ISSUE3_EXAMPLE + '\n[users]\nfile = "u.csv"\n[waves.pilot]\nexclude = ["X"]\n')
    assert load(path).plan.name == "bank"
    project = load(path).sync
    assert project.name == "bank" and len(project.windows) == 2
    assert project.pilot is not None and project.pilot.size == 10
    assert project.rules_for("pilot").exclude == ("X",)
    assert project.rules_for("wave2") == project.filters


@pytest.mark.parametrize(("change", "line", "message"), [
    (('auth = "password"', 'auth = "kerberos"'), 3, "choose one of"),
    (('"env:NEW_MASTER_PASSWORD"', '"hunter2"'), 10, "never the secret itself"),
    (('master_user = "admin"\n', ""), 8, "needs master_user"),
    (("max_connections = 8", "max_connections = 0"), 4, "at least 1"),
    (('exclude = ["Old/*"]', 'exclude = "Old/*"'), 18, "expected a list"),
    (('[users]\nfile = "users.csv"\n', '[users]\n'), 12, "missing required key"),
])
def test_bad_project_keys_name_file_line_and_key(change: tuple[str, str], line: int,
                                                 message: str) -> None:
    text = ISSUE5_EXAMPLE.replace(*change)
    with pytest.raises(ConfigError, match=message) as caught:
        _ = parse(text, "m.toml").sync
    assert caught.value.where == f"m.toml:{line}"


def test_per_wave_overrides_replace_only_the_keys_they_set() -> None:
    project = parse(ISSUE5_EXAMPLE + '[waves.pilot]\nexclude = []\n'
                            '[waves.pilot.map]\n"Old Stuff" = "Archive/Old"\n').sync
    pilot = project.rules_for("pilot")
    assert pilot.exclude == () and pilot.map == (("Old Stuff", "Archive/Old"),)
    assert pilot.exclude_special == ("\\Trash", "\\Junk")  # inherited from [filters]
    with pytest.raises(ConfigError, match=r"\[waves.pilot\] exclud: unknown key"):
        _ = parse(ISSUE5_EXAMPLE + '[waves.pilot]\nexclud = []\n').sync


USERS = "source_user,target_user,department,wave\nana,ana.new,sales,pilot\nbo,,support,\n"


def test_users_csv_defaults_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(USERS)
    users = load_users(path)
    assert [(u.source_user, u.target_user, u.wave, u.line) for u in users] == [
        ("ana", "ana.new", "pilot", 2), ("bo", "bo", "", 3)]
    assign_waves(path, {"bo": "wave2"})
    assert path.read_text() == USERS.replace("support,\n", "support,wave2\n")


@pytest.mark.parametrize(("text", "where", "message"), [
    ("user,target\n", "users.csv:1", "header must name the source login"),
    (USERS + "carl,x,y\n", "users.csv:4", "expected 4 columns"),
    (USERS + "ana,other,sales,\n", "users.csv:4", "already on line 2"),
    (USERS + "carl,ana.new,sales,\n", "users.csv:4", "already on line 2"),
    (USERS + ",x,sales,\n", "users.csv:4", "source_user: empty"),
    (USERS + "carl,,sales,wave 3\n", "users.csv:4", "wave name"),
    (USERS + '"carl x",,sales,\n', "users.csv:4", "no spaces"),
])
def test_bad_users_csv_names_file_and_line(text: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_users(text, Path("users.csv"))
    assert caught.value.where == where


def test_thousands_of_users_load_in_order(tmp_path: Path) -> None:
    """(How long it takes is measured in bench/users_csv_bench.py, not here.)"""
    path = tmp_path / "users.csv"
    path.write_text("source_user,target_user,department,wave\n" + "".join(
        f"user{n}@old.example,user{n}@new.example,dept{n % 40},wave{n % 10}\n"
        for n in range(5_000)))
    users = load_users(path)
    assert [(u.source_user, u.target_user, u.department, u.wave, u.line) for u in users] == [
        (f"user{n}@old.example", f"user{n}@new.example", f"dept{n % 40}", f"wave{n % 10}", n + 2)
        for n in range(5_000)]


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("MF_TEST_SECRET", "from-env")
    assert resolve_secret("file:pw", where="x", base=tmp_path) == "s3cret"
    assert resolve_secret("env:MF_TEST_SECRET", where="x") == "from-env"
    with pytest.raises(ConfigError, match="MF_TEST_MISSING is not set") as caught:
        resolve_secret("env:MF_TEST_MISSING", where="m.toml [target] master_password")
    assert caught.value.where == "m.toml [target] master_password"


def test_secrets_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MF_BO_PW", "bo-from-env")
    path = tmp_path / "secrets.csv"
    path.write_text("user,source_password,target_password\nana,a-pw,\nbo,env:MF_BO_PW,t\n")
    secrets = load_secrets(path)
    assert secrets["ana"].source_password == "a-pw" and secrets["ana"].target_password is None
    assert secrets["bo"].source_password == "bo-from-env"
    assert "a-pw" not in repr(secrets)
    path.write_text("user,source_password,target_password\nana,a,\nana,b,\n")
    with pytest.raises(ConfigError, match="listed twice") as caught:
        load_secrets(path)
    assert caught.value.where == f"{path}:3"


def test_tokens_from_a_file_are_read_again_when_they_expire(tmp_path: Path) -> None:
    now = [1_000_000.0]
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"ana": {"access_token": "t1", "expires_at": now[0] + 3600}}))
    tokens = TokenSource(file=path, clock=lambda: now[0])
    assert tokens.current("ana") == "t1"
    path.write_text(json.dumps({"ana": {"access_token": "t2", "expires_at": now[0] + 7200}}))
    assert tokens.current("ana") == "t1"  # still valid: cached
    now[0] += 3590  # inside the safety margin: fetched again
    assert tokens.current("ana") == "t2"
    with pytest.raises(ConfigError, match="no token for 'bo'"):
        tokens.current("bo")


def test_tokens_from_a_command_and_refresh_after_a_refusal(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = tmp_path / "token.py"
    script.write_text(
        "import json, pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(json.dumps({'access_token': f'{sys.argv[1]}-{n}', 'expires_in': 3600}))\n")
    tokens = TokenSource(command=f"{sys.executable} {script} {{user}}")
    assert tokens.current("ana") == "ana-1"
    assert tokens.current("ana") == "ana-1"
    assert tokens.refresher("ana")() == "ana-2"  # what the session calls when AUTH is refused
    failing = TokenSource(command=f"{sys.executable} -c 'raise SystemExit(3)'")
    with pytest.raises(ConfigError, match="exited with status 3"):
        failing.current("ana")
