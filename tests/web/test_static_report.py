"""`report --html`: the dashboard's page frozen into one file a manager can read."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from zoneinfo import ZoneInfo

from markupsafe import escape

from testbed.webkit import MASTER, XSS_DEPARTMENT, XSS_FOLDER, XSS_USER, SyncedProject, cli


def test_the_static_report_is_the_dashboard_frozen_into_one_readable_file(
        synced: SyncedProject) -> None:
    page_path = synced.project.root / "report.html"
    done = cli("report", str(synced.toml), "--html", str(page_path), "--json")
    assert done.returncode == 0, done.stderr
    page = page_path.read_text()
    data = json.loads(done.stdout)
    # titled with the project's name, as text
    assert "<title>Migration report: Acme &amp; Sons &lt;Bank&gt;</title>" in page
    assert synced.project.root.name not in page
    # self-contained: inline CSS and SVG, no script, nothing fetched
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<svg" in page and "<style>" in page
    # the summary, charts and runbook come before any per-user detail
    order = [page.index(f'<section id="{key}">') for key in
             ("summary", "waves", "progress", "runbook", "users", "failures", "verification")]
    assert order == sorted(order)
    assert 'class="chart gantt"' in page and 'class="today"' in page
    # times in the migration's time zone (Pacific/Auckland: NZDT or NZST), never UTC
    zone = ZoneInfo("Pacific/Auckland")
    last_sync = next(u for u in data["users"] if u["source_user"] == "u000")["last_sync"]
    local = dt.datetime.fromisoformat(last_sync).astimezone(zone)
    assert local.strftime("%Y-%m-%d %H:%M %Z") in page
    assert " UTC" not in page.split('<section id="users">')[1]
    # verification: one row per user verified, its details folded
    verification = page.split('<section id="verification">')[1]
    assert re.findall(r'<tr data-user="([^"]*)">', verification) == ["u000"]
    # every value from users, servers and folders is text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>Tricky" not in page
    assert html.escape(XSS_USER) in page and str(escape(XSS_DEPARTMENT)) in page
    assert str(escape(XSS_FOLDER)) in page
    failure = next(f for f in data["failures"] if f["source_user"] == "u001")
    (refused,) = failure["messages"]
    assert str(escape(refused["reason"])) in page.split('<section id="failures">')[1]
    # no secret
    assert MASTER.password not in page and "not-the-password" not in page
    for user in synced.users:
        assert user.password not in page


def test_the_summary_agrees_with_status_json(synced: SyncedProject) -> None:
    page_path = synced.project.root / "report2.html"
    assert cli("report", str(synced.toml), "--html", str(page_path)).returncode == 0
    status = json.loads(cli("status", str(synced.toml), "--json").stdout)
    page = page_path.read_text()
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    copied = int(re.search(r'data-value="messages-copied">([\d,]+)<', summary)
                 .group(1).replace(",", ""))  # type: ignore[union-attr]
    assert copied == status["summary"]["messages"]
    done = status["summary"]["status"]["synced"] + status["summary"]["status"]["verified"]
    users = status["summary"]["users"]
    assert f"{done} of {users} done" in summary
    assert re.search(r'data-value="failed-mailboxes">(\d+)<', summary).group(1) == str(
        status["summary"]["status"]["failed"])  # type: ignore[union-attr]
