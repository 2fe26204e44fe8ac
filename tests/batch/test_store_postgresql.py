"""A project whose `[sync] store` is a PostgreSQL database (password from a secret
reference): `sync` copies every mailbox as it does on the state file, `status` reads the
same database, and the password shows nowhere: not in the output, not in the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from testbed.postgres import Postgres
from testbed.projectkit import Project, assert_migrated, fill, org_users, start_pair

pytestmark = pytest.mark.slow  # a project on PostgreSQL: `make test-slow`


def mailferry(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300)


def test_sync_and_status_on_a_postgresql_store(
        dovecot_factory: object, secured_postgres: Postgres, tmp_path: Path) -> None:
    users = org_users(3)
    source, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=8)
    url = secured_postgres.new_database()
    project = Project(tmp_path / "p", source, target, users,
                      extra=f'store = "{url}"\nstore_password = "env:MF_TEST_PG"\n').write()
    password = secured_postgres.password or ""
    env = {"MF_TEST_PG": password}

    done = mailferry("sync", str(project.toml), "--json", env=env)
    assert done.returncode == 0, done.stderr
    for user in users:
        assert_migrated(source, target, user)
    assert not (project.root / "state.db").exists()  # the file was not used

    status = mailferry("status", str(project.toml), "--json", env=env)
    assert status.returncode == 0, status.stderr
    rows = {row["source_user"]: row for row in json.loads(status.stdout)["users"]}
    assert {rows[u.name]["status"] for u in users} == {"synced"}

    again = mailferry("sync", str(project.toml), "--json", env=env)  # incremental: no copy
    assert again.returncode == 0, again.stderr
    assert all(o["copied"] == 0 for o in json.loads(again.stdout)["mailboxes"].values())
    for user in users:
        assert_migrated(source, target, user)
    for output in (done, status, again):
        assert password not in output.stdout + output.stderr

    admin = sa.create_engine(url.replace("postgresql://postgres@",
                                         f"postgresql+psycopg://postgres:{password}@"))
    with admin.connect() as conn:  # the password is in no row of any table
        found = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT row_to_json(t)::text AS r FROM project_mailboxes t "
            "UNION ALL SELECT row_to_json(t)::text FROM pairs t "
            "UNION ALL SELECT row_to_json(t)::text FROM project_progress t) AS rows "
            "WHERE r LIKE :secret"), {"secret": f"%{password}%"}).scalar()
        copied = conn.execute(sa.text("SELECT count(*) FROM messages")).scalar()
    admin.dispose()
    assert found == 0 and copied and copied > 0

    wrong = mailferry("sync", str(project.toml), env={"MF_TEST_PG": "Not-The-Pass-77"})
    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.stderr
    assert "Not-The-Pass-77" not in wrong.stdout + wrong.stderr
    unset = mailferry("status", str(project.toml), env={"MF_TEST_PG": ""})
    assert unset.returncode == 2
    assert "store_password" in unset.stderr and "MF_TEST_PG" in unset.stderr
