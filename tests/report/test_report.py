"""status and report of a real project run: every failure with the server's words."""

from __future__ import annotations

import html
import json
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from projectkit import MASTER, Project, fill, org_users

from mailferry.project.settings import load_project
from mailferry.project.users import load_users
from mailferry.report import SECTIONS, Section, build_report, report_html, report_json
from mailferry.store.project_state import ProjectState
from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.messages import make_message

MAILFERRY = [sys.executable, "-m", "mailferry"]


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


def test_another_step_adds_its_section_to_both_outputs(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users = org_users(2)
    source = dovecot_factory(users=users)
    target = dovecot_factory(users=users, master=MASTER)
    fill(source, users, messages=4)
    project = Project(tmp_path, source, target, users).write()
    assert _cli("sync", str(project.toml)).returncode == 0
    settings = load_project(project.toml)
    with ProjectState.open(settings.sync.state) as state:
        state.set_status(users[0].name, "verified")
        records = state.records()
    report = build_report("acme", load_users(settings.users_file), records)
    extra = Section("verification", "Verification",
                    lambda r: {u.user.source_user: u.status for u in r.users},
                    lambda r: "<p>checked &lt;all&gt;</p>")
    sections = [*SECTIONS, extra]
    assert report_json(report, sections)["verification"] == {
        users[0].name: "verified", users[1].name: "synced"}
    page = report_html(report, sections)
    assert '<section id="verification">' in page and "checked &lt;all&gt;" in page
    assert report_json(report)["summary"]["status"]["verified"] == 1
