"""users.csv as admins have it: a Microsoft 365-style export (EmailAddress, UserName,
Password) with a BOM and columns of their own, read as it is by the real CLI; the own
columns are kept and shown in status and the report, the password never."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from testbed import MAILFERRY, Dovecot
from testbed.projectkit import assert_migrated, seeded_project


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "80"})


def test_an_m365_export_with_a_bom_and_own_columns_migrates(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users, source, target, project = seeded_project(dovecot_factory, tmp_path, 3,
                                                    messages=4)
    toml = project.toml.read_text().replace('secrets = "secrets.csv"\n', "")
    project.toml.write_text(toml)
    (tmp_path / "secrets.csv").unlink()
    rows = ["EmailAddress,UserName,Password,Office,Cost Centre"]
    rows += [f"{u.name},{u.name},{u.password},Floor {n} [east],CC-{n}"
             for n, u in enumerate(users)]
    (tmp_path / "users.csv").write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode())

    done = cli("sync", str(project.toml))
    assert done.returncode == 0, done.stderr
    for user in users:
        assert_migrated(source, target, user)

    status = cli("status", str(project.toml))
    assert status.returncode == 0, status.stderr
    assert "Floor 2 [east]" in status.stdout and "CC-1" in status.stdout
    data = json.loads(cli("status", str(project.toml), "--json").stdout)
    assert [u["columns"] for u in data["users"]] == [
        {"Office": f"Floor {n} [east]", "Cost Centre": f"CC-{n}"} for n in range(3)]
    report = cli("report", str(project.toml), "--json")
    assert json.loads(report.stdout)["users"][0]["columns"]["Cost Centre"] == "CC-0"
    for out in (status.stdout, report.stdout, done.stdout, done.stderr):
        assert not any(u.password in out for u in users)

    # drawing a pilot rewrites users.csv: the own columns and the passwords stay
    (tmp_path / "migration.toml").write_text(toml + "\n[pilot]\nsize = 1\n")
    assert cli("waves", str(project.toml), "--draw-pilot").returncode == 0
    data = json.loads(cli("status", str(project.toml), "--json").stdout)
    assert data["users"][2]["columns"] == {"Office": "Floor 2 [east]", "Cost Centre": "CC-2"}
    assert cli("sync", str(project.toml), "--wave", "pilot").returncode == 0

    # a bad row still names file and line, exit 2
    text = (tmp_path / "users.csv").read_text(encoding="utf-8-sig")
    (tmp_path / "users.csv").write_text(text + "carl,carl\n")
    bad = cli("status", str(project.toml))
    assert bad.returncode == 2
    assert f"{tmp_path / 'users.csv'}:5: expected" in bad.stderr, bad.stderr
