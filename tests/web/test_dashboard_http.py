"""`mailferry serve` as a real process over a really synced project: nothing without the
token, every value escaped, filters done by the server, pause/resume only with CSRF."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import httpx
import pytest
from markupsafe import escape

from mailferry.store import ProjectState
from testbed.webkit import XSS_DEPARTMENT, XSS_FOLDER, XSS_USER, Served, SyncedProject, serving

ROUTES = [("GET", "/"), ("GET", "/failures"), ("GET", "/events"),
          ("GET", "/static/dashboard.js"), ("GET", "/static/mailferry.css"),
          ("GET", "/?wave=pilot&status=synced"), ("GET", "/nothing-here"),
          ("POST", "/waves/pause"), ("POST", "/waves/resume")]


@pytest.fixture(scope="module")
def served(synced: SyncedProject) -> Iterator[Served]:
    with serving(synced.toml, "--tick", "0.5") as running:
        yield running


def _secrets_of(synced: SyncedProject) -> list[str]:
    """What must never be in a page: data, and the names a page would show."""
    return [u.name for u in synced.users] + ["Acme", "pilot", "synced", "Tricky", "alert"]


@pytest.mark.parametrize("cookie", [None, "wrong", "0" * 64])
def test_without_the_token_every_route_answers_401_and_nothing_else(
        served: Served, synced: SyncedProject, cookie: str | None) -> None:
    cookies = {"mailferry_dashboard": cookie} if cookie else {}
    with httpx.Client(base_url=served.base, timeout=30, cookies=cookies) as client:
        for method, path in ROUTES:
            for params in ({}, {"token": "wrong-token-wrong-token"}, {"token": ""}):
                with client.stream(method, path, params=params) as reply:
                    body = reply.read().decode()
                assert reply.status_code == 401, (method, path, params)
                assert "set-cookie" not in reply.headers
                for word in _secrets_of(synced):
                    assert word not in body, (method, path, word)


def test_the_token_once_gives_an_httponly_samesite_cookie_and_leaves_the_address(
        served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as client:
        reply = client.get("/failures", params={"token": served.token, "x": "1"})
        assert reply.status_code == 303
        assert reply.headers["location"] == "/failures?x=1"  # the token leaves the address bar
        cookie = reply.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert served.token not in cookie  # an HMAC of it, not the token
        page = client.get("/failures")
        assert page.status_code == 200 and "Failures" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]


def test_dashboard_shows_the_project_and_escapes_every_value(
        served: Served, synced: SyncedProject) -> None:
    with served.login() as client:
        page = client.get("/").text
        failures = client.get("/failures").text
        filtered = client.get("/", params={"search": "script"}).text
        with client.stream("GET", "/events") as stream:
            event = _first_event(stream.iter_lines())
    fragments = "".join(event.values())
    for text in (page, failures, filtered, fragments):
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "<b>Tricky" not in text
    assert html.escape(XSS_USER) in page and html.escape(XSS_USER) in fragments
    assert str(escape(XSS_DEPARTMENT)) in page
    assert "Acme &amp; Sons &lt;Bank&gt;" in page  # the project's name, as text
    assert html.escape(XSS_FOLDER) in failures  # the folder of the refused message
    # the refused message, in Dovecot's words, one click from the summary
    assert 'href="failures"' in page
    reason = re.search(r'<td class="error server-words">([^<]+)</td>', failures)
    assert reason and re.search(r"quota|size|too large", reason.group(1), re.I), failures
    # the scripts the page loads are ours, nothing from outside
    assert re.findall(r'<script src="([^"]+)"', page) == ["static/dashboard.js"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def _first_event(lines: Iterator[str]) -> dict[str, str]:
    data = None
    for line in lines:
        if line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and data is not None:
            return data
    raise AssertionError("no event")


@pytest.mark.parametrize(("query", "expected"), [
    ({"wave": "pilot"}, ["u000", "u001"]),
    ({"wave": ""}, [XSS_USER]),  # the unassigned
    ({"status": "failed"}, ["u001", XSS_USER]),
    ({"status": "verified"}, ["u000"]),
    ({"search": "U00"}, ["u000", "u001", "u002"]),  # either case
    ({"search": "%"}, []),  # a wildcard is a character
    ({"department": XSS_DEPARTMENT}, [XSS_USER]),
    ({"wave": "wave1", "status": "synced"}, ["u002"]),
])
def test_user_filters_run_on_the_server(served: Served, query: dict[str, str],
                                        expected: list[str]) -> None:
    with served.login() as client:
        page = client.get("/", params=query).text
    rows = re.findall(r'<tr data-user="([^"]*)">', page.split('id="live-users"')[1])
    assert [html.unescape(r) for r in rows] == expected
    assert f'data-value="users-matching">{len(expected)}<' in page


def test_pause_and_resume_need_the_forms_csrf_value(served: Served,
                                                    synced: SyncedProject) -> None:
    state_file = synced.project.root / "state.db"
    with served.login() as client:
        page = client.get("/").text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf
        for form, headers in (({"wave": "pilot"}, {}),  # no CSRF value
                              ({"wave": "pilot", "csrf": "0" * 64}, {}),  # a wrong one
                              ({"wave": "pilot", "csrf": csrf.group(1)},
                               {"origin": "http://evil.example"})):  # another site's page
            reply = client.post("/waves/pause", data=form, headers=headers)
            assert reply.status_code == 403
        with ProjectState.open(state_file) as state:
            assert state.paused_waves() == frozenset()
        assert client.post("/waves/pause", data={"wave": "nope", "csrf": csrf.group(1)}
                           ).status_code == 400
        reply = client.post("/waves/pause", data={"wave": "pilot", "csrf": csrf.group(1)},
                            headers={"origin": served.base.rstrip("/")})
        assert reply.status_code == 303
        with ProjectState.open(state_file) as state:
            assert state.paused_waves() == frozenset({"pilot"})
        assert 'class="badge paused">paused<' in client.get("/").text
        reply = client.post("/waves/resume", data={"wave": "pilot", "csrf": csrf.group(1)})
        assert reply.status_code == 303
        with ProjectState.open(state_file) as state:
            assert state.paused_waves() == frozenset()
