"""`mailferry sync` in mirror mode ([sync] mirror = true), the real process on real Dovecot:
moves and deletions follow for a user before the cutover; for the pilot group, whose wave's
cutover has passed, mirroring has stopped by itself and the pass only adds late mail. Every
removal is in the log and in the report with folder, Message-ID and date."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, DovecotUser, SeedMessage, imap_login, seed
from testbed.messages import make_message
from testbed.mirrorkit import Client, assert_mirrored, mailbox, run_cli, write_project

USERS = [DovecotUser("ana", "pw-ana"), DovecotUser("bo", "pw-bo")]


def _put(server: Dovecot, user: str, count: int, folder: str, start: int) -> None:
    rng = random.Random(start)
    conn = imap_login(server.host, server.port, user, server.password(user))
    try:
        seed(conn, [SeedMessage(make_message(rng, start + n, size=1000), folder, ("\\Seen",),
                                dt.datetime(2024, 6, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n))
                    for n in range(count)])
    finally:
        conn.logout()


def _sync(project: Path, source: Dovecot, target: Dovecot, *args: str) -> dict[str, object]:
    done = run_cli(["sync", str(project), "--json", *args], source, target, cwd=project.parent)
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    result["stderr"] = done.stderr
    return result


def test_sync_mirrors_until_the_users_cutover(dovecot_factory: Callable[..., Dovecot],
                                              tmp_path: Path) -> None:
    source = dovecot_factory(users=USERS)
    target = dovecot_factory(users=USERS)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
    project = write_project(tmp_path, source, target, {"ana": "pilot", "bo": "main"},
                            cutover=future,
                            extra=f"mirror = true\n\n[waves.pilot]\ncutover = {past}\n")
    for user in ("ana", "bo"):
        _put(source, user, 14, "INBOX", 0)
        _put(source, user, 3, "Archive", 100)
    first = _sync(project, source, target)
    assert first["ok"], first
    for user in ("ana", "bo"):
        with Client(source, user) as client:
            inbox = client.uids("INBOX")
            client.move("INBOX", inbox[:3], "Archive")
            client.delete("INBOX", inbox[3:5])
        _put(source, user, 1, "INBOX", 500)  # late mail
    log = tmp_path / "sync.log"

    second = _sync(project, source, target, "--log-file", str(log))

    assert second["ok"], second
    mailboxes = second["mailboxes"]
    assert isinstance(mailboxes, dict)
    bo, ana = mailboxes["bo"]["mirror"], mailboxes["ana"]["mirror"]
    assert (bo["enabled"], bo["moved"], bo["removed"]) == (True, 3, 2)
    assert_mirrored(source, target, user="bo")
    # the pilot's cutover has passed: nothing moved or removed, late mail and the moved
    # messages' new places added (the old system is no longer the truth)
    assert not ana["enabled"] and "cutover" in ana["note"]
    assert "mirroring stopped: the cutover" in str(second["stderr"])
    ana_target = mailbox(target, "ana")
    assert sum(ana_target["INBOX"].values()) == 14 + 1
    assert sum(ana_target["Archive"].values()) == 3 + 3
    # every removal in the log and in the report, with folder, Message-ID and date
    removed = [a for a in bo["actions"] if a["action"] == "removed"]
    assert len(removed) == 2
    text = log.read_text()
    for action in removed:
        assert action["folder"] == "INBOX" and action["message_id"] and action["date"]
        assert f"removing INBOX: Message-ID {action['message_id']}, date {action['date']}" in text
    report = run_cli(["report", str(project), "--json"], source, target, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    listed = json.loads(report.stdout)["mirror"]
    assert [r["source_user"] for r in listed] == ["ana", "bo"]
    assert [(a["folder"], a["message_id"], a["date"]) for a in listed[1]["actions"]
            if a["action"] == "removed"] == [(a["folder"], a["message_id"], a["date"])
                                              for a in removed]
