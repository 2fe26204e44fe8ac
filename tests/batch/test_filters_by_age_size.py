"""[filters] max_age and [waves.NAME] max_size in a project: sync leaves exactly those
messages behind, per wave, and `verify --project` (same rules) finds nothing missing."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

from testbed import MAILFERRY, Dovecot, SeedMessage, imap_login, read_folder, seed
from testbed.messages import make_message
from testbed.projectkit import Project, org_users, start_pair

NOW = dt.datetime.now(dt.UTC)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=300)


def test_project_filters_by_age_and_wave_size(dovecot_factory: Callable[..., Dovecot],
                                              tmp_path: Path) -> None:
    users = org_users(2)
    source, target = start_pair(dovecot_factory, users)
    kinds = {"recent small": (1, 0), "old small": (100, 0), "recent large": (1, 90_000)}
    for user in users:
        conn = imap_login(source.host, source.port, user.name, user.password)
        seed(conn, [SeedMessage(make_message(random.Random(n), n, attachment=extra)
                                .replace(b"Subject: ", f"Subject: {kind} ".encode(), 1),
                                internaldate=NOW - dt.timedelta(days=age))
                    for n, (kind, (age, extra)) in enumerate(kinds.items())])
        conn.logout()
    project = Project(tmp_path, source, target, users, waves={users[0].name: "pilot"},
                      extra='\n[waves.pilot]\nmax_size = "20k"\n').write()
    project.toml.write_text(project.toml.read_text().replace("[filters]\n",
                                                             "[filters]\nmax_age = 30\n"))
    done = cli("sync", str(project.toml), "--json")
    assert done.returncode == 0, done.stderr

    def subjects(user_index: int) -> set[str]:
        user = users[user_index]
        conn = imap_login(target.host, target.port, user.name, user.password)
        try:
            return {kind for m in read_folder(conn, "INBOX") for kind in kinds
                    if f"Subject: {kind} ".encode() in m.body}
        finally:
            conn.logout()

    assert subjects(0) == {"recent small"}  # [filters] max_age and the pilot's max_size
    assert subjects(1) == {"recent small", "recent large"}  # max_age only
    checked = cli("verify", "--project", str(project.toml), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    status = json.loads(cli("status", str(project.toml), "--json").stdout)
    assert {u["status"] for u in status["users"]} == {"verified"}
    bad = tmp_path / "bad.toml"
    bad.write_text(project.toml.read_text().replace('max_size = "20k"', 'max_size = "big"'))
    refused = cli("sync", str(bad))
    assert refused.returncode == 2 and "bad.toml:" in refused.stderr, refused.stderr
