"""status and report of a real project run: every failure with the server's words."""

from __future__ import annotations

import html
import json
import random
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from imapclient import imap_utf7

from testbed import (
    MAILFERRY,
    Dovecot,
    DovecotUser,
    SeedMessage,
    imap_login,
    read_folder,
    seed,
    snapshot,
)
from testbed.messages import make_message
from testbed.projectkit import MASTER, Project, add_new_mail, fill, org_users


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=120)


def test_report_lists_each_rejected_message_with_the_servers_words(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(3)
    source = dovecot_factory(users=users)
    target = dovecot_factory(users=users, master=MASTER, max_message_size=30_000)
    fill(source, users, messages=6, sizes=(800, 2000))
    conn = imap_login(source.host, source.port, users[1].name, users[1].password)
    seed(conn, [SeedMessage(make_message(random.Random(1), 1, attachment=60_000), "Projects")])
    conn.logout()
    project = Project(tmp_path, source, target, users,
                      waves={users[0].name: "pilot", users[1].name: "pilot"}).write()
    assert _cli("sync", str(project.toml), "--wave", "pilot").returncode == 1

    status = _cli("status", str(project.toml), "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert [(w["wave"], w["status"]["synced"], w["status"]["failed"], w["status"]["pending"])
            for w in data["waves"]] == [("pilot", 1, 1, 0), ("", 0, 0, 1)]

    page = tmp_path / "report.html"
    report = _cli("report", str(project.toml), "--html", str(page), "--json")
    assert report.returncode == 0, report.stderr
    failures = json.loads(report.stdout)["failures"]
    assert [f["source_user"] for f in failures] == [users[1].name]
    (rejected,) = failures[0]["messages"]
    assert rejected["folder"] == "Projects" and rejected["kind"] == "rejected"
    assert re.search(r"too large|size", rejected["reason"], re.I), rejected
    text = page.read_text()
    assert html.escape(rejected["reason"]) in text  # the server's words, as it said them
    assert "Projects" in text and users[2].name in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # self-contained
    assert MASTER.password not in text and users[1].password not in text
    assert MASTER.password not in (tmp_path / "state.db").read_bytes().decode("latin-1")


def _source_counts(source: Dovecot, user: DovecotUser) -> dict[str, tuple[int, int]]:
    """Folder (as users read its name) -> (messages, bytes) as the source server holds them
    (Trash excluded)."""
    box = snapshot(source.host, source.port, user.name, user.password)
    conn = imap_login(source.host, source.port, user.name, user.password)
    try:
        sizes = {name: sum(len(m.body) for m in read_folder(conn, name))
                 for name, content in box.items() if content and name != "Trash"}
    finally:
        conn.logout()
    return {imap_utf7.decode(name.encode()): (sum(box[name].values()), size)
            for name, size in sizes.items()}


def test_the_report_is_built_from_what_sync_did(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """Every number in the report comes from a real `sync` (and a real delta pass) and is
    checked against the source server; nothing is set by the test."""
    users = org_users(3)
    source = dovecot_factory(users=users)
    target = dovecot_factory(users=users, master=MASTER)
    fill(source, users, messages=8)
    project = Project(tmp_path, source, target, users,
                      waves={users[0].name: "pilot", users[1].name: "pilot"}).write()
    assert _cli("sync", str(project.toml), "--wave", "pilot").returncode == 0
    add_new_mail(source, users[0], 3, seed_value=5)  # a delta pass brings these
    assert _cli("sync", str(project.toml), "--user", users[0].name).returncode == 0

    page = tmp_path / "report.html"
    done = _cli("report", str(project.toml), "--json", "--html", str(page))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_user = {u["source_user"]: u for u in report["users"]}
    for user in users[:2]:
        counts = _source_counts(source, user)
        row = by_user[user.name]
        assert row["status"] == "synced" and row["wave"] == "pilot"
        assert row["messages"] == sum(n for n, _ in counts.values())
        assert row["bytes"] == sum(size for _, size in counts.values())
    # the folders of the last pass: all of users[1]'s mail; only the delta for users[0]
    folders = {f["source"]: f for f in by_user[users[1].name]["folders"]}
    assert {name: f["copied"] for name, f in folders.items() if f["copied"]} == {
        name: n for name, (n, _) in _source_counts(source, users[1]).items()}
    assert folders["Trash"]["status"] == "excluded"
    delta = {f["source"]: (f["status"], f["copied"]) for f in by_user[users[0].name]["folders"]}
    assert delta.pop("INBOX") == ("synced", 3)
    assert {status for status, copied in delta.values()} <= {"unchanged", "excluded"}
    assert by_user[users[0].name]["passes"] == 2
    assert by_user[users[0].name]["last_pass_messages"] == 3
    assert by_user[users[1].name]["passes"] == 1
    assert by_user[users[2].name]["status"] == "pending" and by_user[users[2].name]["passes"] == 0
    assert [(w["wave"], w["users"], w["status"]["synced"], w["status"]["pending"])
            for w in report["waves"]] == [("pilot", 2, 2, 0), ("", 1, 0, 1)]
    assert report["summary"]["status"]["synced"] == 2

    text = page.read_text()
    for user in users[:2]:  # each synced user's line says its real totals
        row = by_user[user.name]
        line = re.search(rf'<tr data-user="{user.name}">(.*?)</tr>', text, re.S)
        assert line and f'<td class="n">{row["messages"]:,}</td>' in line.group(1)
    assert "pending" in text and users[2].name in text
