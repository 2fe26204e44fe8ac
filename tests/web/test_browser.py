"""The dashboard in a real browser: Debian's chromium driven by Playwright (pointed at the
system browser: browser downloads are impossible here). A failed test leaves a screenshot
under its pytest tmp dir and prints the path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import Dovecot, FaultProxy
from testbed.webkit import (
    MAILFERRY,
    MASTER,
    XSS_FOLDER,
    XSS_USER,
    Project,
    SyncedProject,
    call_failed,
    cli,
    fill,
    org_users,
    serving,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium: `make test-slow`
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


@pytest.fixture
def page(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: run `make setup` (the "
        "dev extras of pyproject.toml)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM}: run `make setup` as root (Debian package chromium)")
    with playwright_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1400, "height": 1000})
        dialogs: list[str] = []
        browser_page = context.new_page()
        browser_page.on("dialog", lambda dialog: (dialogs.append(dialog.message),
                                                  dialog.dismiss()))
        browser_page.set_default_timeout(60_000)
        try:
            yield browser_page
            assert not dialogs, f"a script ran: {dialogs}"  # alert(1) from data would land here
        finally:
            if call_failed(request):
                shot = tmp_path / "failure.png"
                browser_page.screenshot(path=str(shot), full_page=True)
                print(f"\nscreenshot of the failed test: {shot}")
            context.close()


def _copied(page: object) -> int:
    text = page.locator('[data-value="messages-copied"]').inner_text()  # type: ignore[attr-defined]
    return int(text.replace(",", ""))


def test_numbers_move_without_a_reload_while_sync_runs_and_end_as_status_says(
        page: object, dovecot_factory: object, tmp_path: Path) -> None:
    users = org_users(3)
    source: Dovecot = dovecot_factory(users=users)  # type: ignore[operator]
    target: Dovecot = dovecot_factory(users=users, master=MASTER)  # type: ignore[operator]
    fill(source, users, messages=60, sizes=(2000, 5000))

    def slow_target(data: bytes) -> None:  # ~100 KB/s to the target: sync lasts seconds
        time.sleep(len(data) / 100_000)

    with FaultProxy(target.host, target.port, on_up=slow_target) as proxy:
        project = Project(tmp_path / "p", source, target, users,
                          extra="mailboxes = 1\nworkers = 1\n").write()
        project.toml.write_text(project.toml.read_text().replace(
            f":{target.port}\"", f":{proxy.port}\""))
        with serving(project.toml, "--tick", "0.5") as served:
            page.goto(f"{served.base}?token={served.token}")  # type: ignore[attr-defined]
            page.evaluate("window.loadedOnce = true")  # type: ignore[attr-defined]
            before = _copied(page)
            log = tmp_path / "sync.err"
            with log.open("wb") as errors:
                sync = subprocess.Popen([*MAILFERRY, "sync", str(project.toml)],
                                        stdout=subprocess.DEVNULL, stderr=errors)
            try:
                page.wait_for_function(  # type: ignore[attr-defined]
                    """before => Number(document.querySelector('[data-value="messages-copied"]')
                       .textContent.replace(/,/g, '')) > before""", arg=before,
                    timeout=120_000)
                seen_while_running = sync.poll() is None
                assert sync.wait(300) == 0, log.read_text()
            finally:
                sync.kill()
            status = json.loads(cli("status", str(project.toml), "--json").stdout)
            expected = status["summary"]["messages"]
            page.wait_for_function(  # type: ignore[attr-defined]
                """n => Number(document.querySelector('[data-value="messages-copied"]')
                   .textContent.replace(/,/g, '')) === n""", arg=expected, timeout=60_000)
            summary = page.locator("#live-summary").inner_text()  # type: ignore[attr-defined]
            assert f"{status['summary']['status']['synced']} of 3 done" in summary
            assert page.evaluate("window.loadedOnce") is True  # type: ignore[attr-defined]
            assert page.evaluate(  # type: ignore[attr-defined]
                "performance.getEntriesByType('navigation').length") == 1
            assert int(page.get_attribute("#live-state", "data-updates")) > 1  # type: ignore[attr-defined]
            rows = page.locator("#live-users tr[data-user]")  # type: ignore[attr-defined]
            assert rows.count() == 3 and "synced" in rows.nth(0).inner_text()
            if os.environ.get("MAILFERRY_SCREENSHOT"):  # the README's picture
                page.screenshot(path=os.environ["MAILFERRY_SCREENSHOT"], full_page=False)
    assert seen_while_running  # the page moved while the copy was still going


def test_timeline_and_failures_view(page: object, synced: SyncedProject) -> None:
    with serving(synced.toml) as served:
        page.goto(f"{served.base}?token={served.token}")  # type: ignore[attr-defined]
        gantt = page.locator("svg.gantt")  # type: ignore[attr-defined]
        steps = gantt.locator("g.step")
        assert steps.count() >= 8
        ids = [steps.nth(n).get_attribute("data-step") for n in range(steps.count())]
        assert {"notify", "waves", "cutover", "decommission"} <= set(ids)
        assert gantt.locator("line.today").count() == 1
        critical = gantt.locator("g.step.critical")
        assert critical.count() >= 1
        assert "cutover" in [critical.nth(n).get_attribute("data-step")
                             for n in range(critical.count())]
        assert gantt.locator("tspan.hazard").count() >= 1  # hazards per step are marked
        # the runbook table names each hazard's rule next to its step
        assert re.search(r"plan\.[a-z-]+", page.locator("#live-timeline").inner_text())  # type: ignore[attr-defined]
        # the user called <script>... is shown as text, and no script ran
        assert page.get_by_text(XSS_USER, exact=True).count() >= 1  # type: ignore[attr-defined]
        # failures are one click away, in the servers' words
        page.get_by_role("link", name="The servers' words").click()  # type: ignore[attr-defined]
        page.wait_for_url("**/failures")  # type: ignore[attr-defined]
        failures = page.locator("#failures").inner_text()  # type: ignore[attr-defined]
        assert XSS_FOLDER in failures
        assert re.search(r"quota|size|too large", failures, re.I)
        assert "Authentication failed" in failures  # the refused login, as Dovecot said it
