"""users.csv's optional columns for the notices, and [waves.NAME] start/end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailferry.errors import ConfigError
from mailferry.project import assign_waves, load_users, parse, parse_users

HEAD = "source_user,target_user,department,wave"


def test_optional_columns_load_and_survive_a_wave_assignment(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(f"{HEAD},language,name,timezone,notify_address\n"
                    "a@x.example,,d,,fr,Émile Zola,Europe/Paris,emile@home.example\n"
                    "b@x.example,,d,,,,,\n")
    a, b = load_users(path)
    assert (a.language, a.name, a.timezone, a.notify_address) == (
        "fr", "Émile Zola", "Europe/Paris", "emile@home.example")
    assert (b.language, b.name) == ("", "")
    assign_waves(path, {"b@x.example": "pilot"})
    a2, b2 = load_users(path)
    assert a2 == a and b2.wave == "pilot"


@pytest.mark.parametrize(("header", "row", "message"), [
    ("nickname,department", "n,d", "header must name the source login"),
    (f"{HEAD},name,name", "a@x,,d,,n,n", "names name again"),
    (f"{HEAD},office,office", "a@x,,d,,n,n", "a name of its own"),
    (f"{HEAD},timezone", "a@x,,d,,Mars/Olympus", "timezone 'Mars/Olympus'"),
    (f"{HEAD},language", "a@x,,d,,french!", "language 'french!'"),
    (f"{HEAD},notify_address", "a@x,,d,,a b@x", "notify_address"),
    (f"{HEAD},name", "a@x,,d,", "expected 5 columns"),
])
def test_bad_optional_cells_name_the_line(header: str, row: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_users(f"{header}\n{row}\n", Path("users.csv"))
    assert caught.value.where in ("users.csv:1", "users.csv:2")


BASE = """\
[migration]
name = "m"
domains = ["x.example"]
timezone = "Europe/Paris"
cutover = 2026-12-12T20:00:00
[source]
imap = "imaps://a.example"
[target]
imap = "imaps://b.example"
[users]
file = "users.csv"
"""


def test_wave_start_and_end_are_wall_time_in_the_migration_zone() -> None:
    settings = parse(BASE + """
[waves.pilot]
start = 2026-12-05T18:00:00
end = 2026-12-06
exclude_special = ["\\\\Trash"]
""").sync
    times = settings.wave_times["pilot"]
    assert times.start == dt.datetime(2026, 12, 5, 18, tzinfo=settings.timezone)
    assert times.end == dt.datetime(2026, 12, 7, tzinfo=settings.timezone)  # the whole day
    assert settings.rules_for("pilot").exclude_special == ("\\Trash",)


@pytest.mark.parametrize(("wave", "message"), [
    ("start = 2026-12-05T18:00:00\nend = 2026-12-05T08:00:00", "end must be after start"),
    ("end = 2026-12-05T08:00:00", "end without start"),
    ('start = "soon"', "expected a date-time or a date"),
])
def test_bad_wave_times_name_the_key(wave: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        _ = parse(BASE + "[waves.pilot]\n" + wave + "\n").sync
    assert "[waves.pilot]" in str(caught.value) or "waves.pilot" in str(caught.value)
