"""A paused wave stops a real sync; one-time links reveal a secret once, to the link."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from mailferry.store import ProjectState
from mailferry.web import OneTimeSecrets
from testbed import Dovecot, FaultProxy, snapshot
from testbed.projectkit import assert_migrated
from testbed.webkit import MAILFERRY, MASTER, Project, cli, fill, org_users, serving


def _messages(server: Dovecot, user: str, password: str) -> int:
    return sum(sum(c.values()) for c in snapshot(server.host, server.port, user,
                                                 password).values())


def test_a_wave_paused_while_sync_runs_stops_it_and_resume_lets_the_next_run_finish(
        dovecot_factory: object, tmp_path: Path) -> None:
    users = org_users(4)
    source = dovecot_factory(users=users)  # type: ignore[operator]
    target = dovecot_factory(users=users, master=MASTER)  # type: ignore[operator]
    fill(source, users, messages=40, sizes=(2000, 6000))
    moved = threading.Event()

    def slow_upload(data: bytes) -> None:  # the target takes a while: sync lasts seconds
        moved.set()
        time.sleep(0.05)

    with FaultProxy(target.host, target.port, on_up=slow_upload) as proxy:
        project = Project(tmp_path, source, target, users, waves={
            u.name: "big" for u in users}, extra="mailboxes = 1\nworkers = 1\n").write()
        text = project.toml.read_text().replace(f":{target.port}\"", f":{proxy.port}\"")
        project.toml.write_text(text)
        running = subprocess.Popen([*MAILFERRY, "sync", str(project.toml), "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert moved.wait(120), "sync never reached the target"
            with ProjectState.open(tmp_path / "state.db") as state:
                state.set_wave_paused("big", True, "test")
            out, err = running.communicate(timeout=180)
        finally:
            running.kill()
    assert running.returncode == 1, err
    copied = [_messages(target, u.name, u.password) for u in users]
    wanted = [_messages(source, u.name, u.password) for u in users]
    assert sum(copied) < sum(wanted) - 40  # at least the last mailbox never started
    assert '"not_started"' in out and re.search(r'"paused"', out), out
    # resumed: the next run finishes every mailbox, exactly once
    with ProjectState.open(tmp_path / "state.db") as state:
        state.set_wave_paused("big", False, "test")
    project.toml.write_text(text.replace(f":{proxy.port}\"", f":{target.port}\""))
    assert cli("sync", str(project.toml)).returncode == 0
    for user in users:
        assert_migrated(source, target, user)


def test_a_paused_wave_starts_nothing_and_other_waves_go_on(
        dovecot_factory: object, tmp_path: Path) -> None:
    users = org_users(2)
    source = dovecot_factory(users=users)  # type: ignore[operator]
    target = dovecot_factory(users=users, master=MASTER)  # type: ignore[operator]
    fill(source, users, messages=5)
    project = Project(tmp_path, source, target, users, waves={
        users[0].name: "held", users[1].name: "open"}).write()
    with ProjectState.open(tmp_path / "state.db") as state:
        state.set_wave_paused("held", True, "test")
    done = cli("sync", str(project.toml))
    assert done.returncode == 1
    assert _messages(target, users[0].name, users[0].password) == 0
    assert_migrated(source, target, users[1])


@pytest.fixture
def project(dovecot_factory: object, tmp_path: Path) -> Project:
    users = org_users(1)
    source = dovecot_factory(users=users)  # type: ignore[operator]
    target = dovecot_factory(users=users, master=MASTER)  # type: ignore[operator]
    return Project(tmp_path, source, target, users).write()


SECRET = "Tr0ub4dor&3-new-password"


def test_a_one_time_link_shows_the_secret_once_to_the_holder_of_the_link(
        project: Project, tmp_path: Path) -> None:
    with ProjectState.open(tmp_path / "state.db") as state:
        token = OneTimeSecrets(state).issue("u000", SECRET, ttl=3600)
        other = OneTimeSecrets(state).issue("u001", "another-secret", ttl=3600)
    with serving(project.toml) as served, httpx.Client(base_url=served.base,
                                                       timeout=30) as client:
        # no dashboard token needed: the link is the credential; opening it reveals nothing
        for _ in range(2):
            opened = client.get(f"/once/{token}")
            assert opened.status_code == 200
            assert "u000" in opened.text and SECRET not in opened.text
            assert "<form method=\"post\">" in opened.text
        assert client.get("/once/-/style.css").status_code == 200
        assert opened.headers["referrer-policy"] == "no-referrer"
        shown = client.post(f"/once/{token}")
        assert shown.status_code == 200 and str(escape(SECRET)) in shown.text
        assert shown.headers["cache-control"] == "no-store"
        again = client.post(f"/once/{token}")
        assert again.status_code == 404 and str(escape(SECRET)) not in again.text
        assert client.get(f"/once/{token}").status_code == 404
        # a link for someone else, a forged one and a truncated one open nothing
        forged = ("B" if other[0] != "B" else "C") + other[1:]
        assert client.post(f"/once/{forged}").status_code == 404
        assert client.post("/once/" + "A" * 43).status_code == 404
        assert client.get("/once/nonsense").status_code == 404
        assert client.get("/").status_code == 401  # the dashboard itself stays closed
        served_output = served.output
    state_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    for leaked in (SECRET, token, "another-secret", other):
        assert leaked.encode() not in state_bytes
        assert leaked not in served_output()


def test_an_expired_link_opens_nothing(project: Project, tmp_path: Path) -> None:
    with ProjectState.open(tmp_path / "state.db") as state:
        links = OneTimeSecrets(state)
        token = links.issue("u000", SECRET, ttl=0.2)
        time.sleep(0.5)
        assert links.holder(token) is None and links.reveal(token) is None


def test_two_reveals_at_once_show_the_secret_once(project: Project, tmp_path: Path) -> None:
    with ProjectState.open(tmp_path / "state.db") as first, \
            ProjectState.open(tmp_path / "state.db") as second:
        token = OneTimeSecrets(first).issue("u000", SECRET)
        results: list[object] = []
        threads = [threading.Thread(target=lambda s=s: results.append(
            OneTimeSecrets(s).reveal(token))) for s in (first, second) * 4]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    shown = [r for r in results if r is not None]
    assert len(shown) == 1 and shown[0].secret == SECRET  # type: ignore[attr-defined]
