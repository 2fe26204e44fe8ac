"""`verify --project` and `backup --project` against real Dovecot servers: a synced project
verifies clean and every user becomes verified (state, status, report); a message deleted
from one target mailbox is found and that user is no longer verified; a project backup
holds one tree per user whose manifest lists every message of the source."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailferry.backup.manifest import Manifest
from testbed import MAILFERRY, Dovecot, imap_login, snapshot
from testbed.projectkit import MASTER, Project, fill, org_users, run_batch


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=120)


def _json(*args: str) -> Any:
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _statuses(toml: Path) -> dict[str, str]:
    return {u["source_user"]: u["status"] for u in _json("status", str(toml), "--json")["users"]}


def _delete_first_inbox_message(server: Dovecot, user: str, password: str) -> str:
    """Expunge INBOX's first message over IMAP; returns its Message-ID."""
    conn = imap_login(server.host, server.port, user, password)
    try:
        conn.select("INBOX")
        _typ, data = conn.fetch("1", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        header = data[0][1].decode() if isinstance(data[0], tuple) else ""
        conn.store("1", "+FLAGS", "(\\Deleted)")
        conn.expunge()
    finally:
        conn.logout()
    return header.split(":", 1)[1].strip() if ":" in header else ""


def test_verify_a_project_then_catch_a_deleted_message(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(4)
    source = dovecot_factory(users=users)
    target = dovecot_factory(users=users, master=MASTER)
    fill(source, users, messages=6)
    project = Project(tmp_path, source, target, users,
                      waves={u.name: "w1" for u in users}).write()
    assert run_batch(project.toml).exit_status == 0
    toml = str(project.toml)

    clean = _run("verify", "--project", toml, "--wave", "w1", "--json")
    assert clean.returncode == 0, clean.stderr
    data = json.loads(clean.stdout)
    assert data["ok"] and {u: r["status"] for u, r in data["users"].items()} == {
        u.name: "verified" for u in users}
    for result in data["users"].values():  # Trash is excluded by [filters], as for sync
        assert {e["folder"] for e in result["report"]["excluded"]} == {"Trash"}
        assert result["report"]["totals"]["source_messages"] > 0
    assert _statuses(project.toml) == {u.name: "verified" for u in users}
    report = _json("report", toml, "--json")
    assert report["summary"]["status"]["verified"] == 4
    assert {v["source_user"]: v["ok"] for v in report["verification"]} == {
        u.name: True for u in users}

    damaged = users[2]
    message_id = _delete_first_inbox_message(target, damaged.name, damaged.password)
    again = _run("verify", "--project", toml, "--json")
    assert again.returncode == 1, again.stderr
    result = json.loads(again.stdout)["users"][damaged.name]
    assert result["status"] == "differs"
    [difference] = result["report"]["differences"]
    assert difference["kind"] == "missing" and difference["folder"] == "INBOX"
    assert difference["message_id"] == message_id and difference["target_uid"] is None

    statuses = _statuses(project.toml)
    assert statuses.pop(damaged.name) == "synced"
    assert statuses == {u.name: "verified" for u in users if u is not damaged}
    stored = {v["source_user"]: v for v in _json("report", toml, "--json")["verification"]}
    assert not stored[damaged.name]["ok"] and stored[damaged.name]["differences"] == 1
    assert stored[damaged.name]["listed"][0]["message_id"] == message_id
    html_path = tmp_path / "report.html"
    assert _run("report", toml, "--html", str(html_path)).returncode == 0
    page = html_path.read_text()
    assert 'id="verification"' in page
    assert message_id.replace("<", "&lt;").replace(">", "&gt;") in page  # escaped

    page_path = tmp_path / "verify.html"
    table = _run("verify", "--project", toml, "--user", damaged.name, "--html", str(page_path))
    assert table.returncode == 1 and "missing" in table.stdout and damaged.name in table.stdout
    page = page_path.read_text()
    assert f"<h2>{damaged.name}</h2>" in page and "&lt;" in page and message_id not in page
    assert _run("verify", "--project", toml, "--wave", "nope").returncode == 2
    assert _run("verify", "--project", toml, "imap://x@h").returncode == 2


def test_backup_a_project_one_tree_per_user(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(3)
    source = dovecot_factory(users=users)
    target = dovecot_factory(users=users, master=MASTER)
    fill(source, users, messages=5)
    project = Project(tmp_path / "p", source, target, users,
                      waves={users[0].name: "w1", users[1].name: "w1"}).write()
    root = tmp_path / "backups"
    done = _json("backup", "--project", str(project.toml), str(root), "--json")
    assert done["ok"] and set(done["users"]) == {u.name for u in users}
    trees = sorted(p.name for p in root.iterdir())
    assert trees == sorted(f"{u.name}@{source.host}" for u in users)
    for user in users:
        box = snapshot(source.host, source.port, user.name, user.password)
        manifest = Manifest.load(root / f"{user.name}@{source.host}")
        listed = manifest.all_messages()
        assert len(listed) == sum(sum(c.values()) for c in box.values()) > 0
        assert len({m.folder for m in listed}) == len([c for c in box.values() if c])
    # a re-run of one wave fetches nothing new
    rerun = _json("backup", "--project", str(project.toml), "--wave", "w1", str(root), "--json")
    assert set(rerun["users"]) == {users[0].name, users[1].name}
    assert all(r["backup"]["fetched"] == 0 for r in rerun["users"].values())
