"""`mailferry inventory` counts each source mailbox (folders, messages, bytes) before any
copy, with STATUS SIZE where Dovecot offers it and FETCH RFC822.SIZE where it does not; the
counts equal what stdlib imaplib reads back, are kept in the state and shown by `waves`,
`status` and the report; the source is left as it was (not even \\Seen) and the target is
never touched. Real CLI processes, real Dovecot."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import MAILFERRY, Dovecot, DovecotUser, imap_login, read_folder, snapshot
from testbed.projectkit import Project, fill, org_users, seeded_project, start_pair
from testbed.readback import list_folders


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "80", "MAILFERRY_NO_LOG": "1"})


def held(server: Dovecot, user: DovecotUser) -> tuple[int, int]:
    """Messages and bytes of every folder but Trash (the project's [filters] leave it out),
    read with imaplib: the bodies' lengths, not a size the server reports."""
    conn = imap_login(server.host, server.port, user.name, user.password)
    try:
        stored = [m for name, attrs in list_folders(conn).items()
                  if name != "Trash" and "\\Noselect" not in attrs
                  for m in read_folder(conn, name)]
    finally:
        conn.logout()
    return len(stored), sum(len(m.body) for m in stored)


@pytest.mark.parametrize("status_size", [True, False], ids=["STATUS-SIZE", "FETCH-sizes"])
def test_inventory_counts_the_source_and_every_view_shows_it(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path, status_size: bool) -> None:
    users = org_users(3)
    without = () if status_size else ("STATUS=SIZE",)
    source = dovecot_factory(users=users, without_capabilities=without)
    _, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=10)
    project = Project(tmp_path, source, target, users,
                      waves={"u000": "pilot", "u001": "w1", "u002": "w1"}).write()
    before = {u.name: snapshot(source.host, source.port, u.name, u.password) for u in users}
    want = {u.name: held(source, u) for u in users}
    assert all(messages for messages, _ in want.values())

    done = cli("inventory", "-p", str(project.toml), "--json")
    assert done.returncode == 0, done.stderr
    counted = json.loads(done.stdout)["mailboxes"]
    method = "STATUS SIZE" if status_size else "FETCH RFC822.SIZE"
    for user in users:
        mine = counted[user.name]
        assert (mine["messages"], mine["bytes"]) == want[user.name], user.name
        assert mine["method"] == method and mine["error"] is None
        trash = [f for f in mine["all_folders"] if f["name"] == "Trash"]
        assert trash and trash[0]["excluded"]  # listed, not counted
    # the source as it was (EXAMINE and sizes only: no \Seen), the target never logged into
    assert {u.name: snapshot(source.host, source.port, u.name, u.password)
            for u in users} == before
    assert all(not any(snapshot(target.host, target.port, u.name, u.password).values())
               for u in users)

    status = json.loads(cli("status", "-p", str(project.toml), "--json").stdout)
    by_user = {u["source_user"]: u for u in status["users"]}
    for user in users:
        assert by_user[user.name]["status"] == "pending"
        inv = by_user[user.name]["inventory"]
        assert (inv["messages"], inv["bytes"]) == want[user.name]
    w1 = next(w for w in status["waves"] if w["wave"] == "w1")["inventory"]
    assert w1 == {"counted": 2, "messages": want["u001"][0] + want["u002"][0],
                  "bytes": want["u001"][1] + want["u002"][1]}
    waves = json.loads(cli("waves", "-p", str(project.toml), "--json").stdout)
    assert next(w for w in waves["waves"] if w["wave"] == "w1")["inventory"] == w1
    report = json.loads(cli("report", "-p", str(project.toml), "--json").stdout)
    assert next(w for w in report["inventory"]["waves"] if w["wave"] == "w1") == \
        {"wave": "w1", **w1}
    page = tmp_path / "report.html"
    assert cli("report", "-p", str(project.toml), "--html", str(page)).returncode == 0
    assert "Source mailboxes before the copy" in page.read_text()

    # on the terminal, at 80 columns: each mailbox's count at the source
    shown = cli("status", "-p", str(project.toml))
    assert shown.returncode == 0, shown.stderr
    messages, _ = want["u002"]
    assert f"{messages} msgs" in shown.stdout
    assert f"{want['u001'][0] + messages} msgs" in cli("waves", "-p", str(project.toml)).stdout


def test_a_mailbox_that_cannot_be_counted_is_named_and_the_others_are_counted(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users, source, _, project = seeded_project(dovecot_factory, tmp_path, 3,
                                               messages=4)
    secrets = tmp_path / "secrets.csv"
    secrets.write_text(secrets.read_text().replace("pw-u001", "wrong-password"))

    done = cli("inventory", "-p", str(project.toml))
    assert done.returncode == 1
    assert "u001: could not count:" in done.stderr, done.stderr
    assert "wrong-password" not in done.stdout + done.stderr
    status = json.loads(cli("status", "-p", str(project.toml), "--json").stdout)
    by_user = {u["source_user"]: u["inventory"] for u in status["users"]}
    assert by_user["u001"]["error"] and by_user["u001"]["messages"] == 0
    assert (by_user["u000"]["messages"], by_user["u000"]["bytes"]) == held(source, users[0])
    assert "not counted" in cli("status", "-p", str(project.toml)).stdout

    # bad input: one line naming where, exit 2, nothing counted
    bad = cli("inventory", "-p", str(project.toml), "--wave", "nosuch")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("mailferry: error: ") and len(bad.stderr.splitlines()) == 1
