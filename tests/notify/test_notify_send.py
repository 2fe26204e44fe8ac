"""`mailferry notify` submits to a real SMTP sink (STARTTLS, AUTH); the messages it got are
parsed and read: headers, both parts, dates in each user's zone, French for a French user,
a user named `<script>` shown as text, no password anywhere."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

from mailferry.notify.locale import FRENCH, format_moment
from testbed.notifykit import (
    MAILFERRY,
    SCRIPT_NAME,
    SMTP_PASSWORD,
    SMTP_USER,
    ZONE,
    parse,
    parts,
    pilot_start,
    run_notify,
    write_project,
)
from testbed.smtp_sink import SmtpSink

PASSWORDS = ("Ana-New-Pw-1", "Jean-New-Pw-2", "X-New-Pw-3", "Bo-New-Pw-4", SMTP_PASSWORD)


def by_recipient(sink: SmtpSink) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for received in sink.received:
        for rcpt in received.rcpt_tos:
            out.setdefault(rcpt, []).append(received.data)
    return out


def test_each_pilot_user_gets_one_notice_in_their_language_and_zone(
        tmp_path: Path, sink: SmtpSink) -> None:
    start = pilot_start()
    project = write_project(tmp_path, sink.port, start=start)
    done = run_notify(project)
    assert done.returncode == 0, done.stderr
    got = by_recipient(sink)
    # the pilot starts in 3 days (lead_days 7); wave w2 in 33 days: not yet
    assert sorted(got) == ["ana@old.example", "jean@old.example", "x@old.example"]
    assert all(len(v) == 1 for v in got.values())
    assert all(r.tls and r.mail_from == "it@bank.example" for r in sink.received)

    ana = parse(got["ana@old.example"][0])
    assert ana["From"] == "Bank IT <it@bank.example>"
    assert ana["To"] == "ana@old.example"
    assert ana["Message-ID"].startswith("<notice.before.")
    assert ana["Subject"] == f"Your mailbox moves on {start:%A} {start.day} {start:%B} {start.year}"
    text, html = parts(ana)
    when = format_moment(start, "en")
    for part in (text, html):
        assert "Hello Ana Lima," in part
        assert when in part and "Asia/Kuala_Lumpur" in part
        assert "imap.newmail.example" in part and "993" in part and "SSL/TLS" in part
        assert "smtp.newmail.example" in part and "587" in part and "STARTTLS" in part
        assert "ana@bank.example" in part
        assert "helpdesk@bank.example, +60 3 1234 5678" in part
    assert 'NOT moved: the folder "Trash"' in text
    assert 'NOT moved: folders matching "Archive/Old*"' in text
    assert "<strong>Not moved</strong>: the folder “Trash”" in html
    assert "both servers" not in text  # no [relay]: nobody is promised dual delivery

    jean = parse(got["jean@old.example"][0])
    text, html = parts(jean)
    paris = start.astimezone(ZoneInfo("Europe/Paris"))
    assert paris.hour != start.hour  # the test means something: another wall time
    french_day = f"{FRENCH.weekdays[paris.weekday()]} {paris.day} {FRENCH.months[paris.month - 1]}"
    assert jean["Subject"].startswith("Votre messagerie déménage le " + french_day)
    for part in (text, html):
        assert "Bonjour Jean Dupont," in part
        assert f"{french_day} {paris.year} à {paris:%H:%M}" in part
        assert "heure Europe/Paris" in part
        assert "Corbeille" in part and "jamais par courriel" in part

    scripted = parse(got["x@old.example"][0])
    text, html = parts(scripted)
    assert "<script>" not in html
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;," in html
    assert f"Hello {SCRIPT_NAME}," in text  # plain text is text

    everything = b"".join(r.data for r in sink.received).decode("utf-8", "replace")
    state = project.state.read_bytes().decode("latin-1")
    for secret in PASSWORDS:
        assert secret not in everything and secret not in state
        assert secret not in done.stdout + done.stderr


def test_a_rerun_sends_nothing_twice_and_the_list_says_who_got_what(
        tmp_path: Path, sink: SmtpSink) -> None:
    project = write_project(tmp_path, sink.port)
    assert run_notify(project).returncode == 0
    again = run_notify(project, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["notices"] == []
    assert len(sink.received) == 3
    listed = json.loads(run_notify(project, "--list", "--json").stdout)["notices"]
    assert sorted((n["source_user"], n["kind"], n["state"]) for n in listed) == [
        ("ana@old.example", "before", "sent"), ("jean@old.example", "before", "sent"),
        ("x@old.example", "before", "sent")]
    assert all(n["sent_at"] and n["recipient"] == n["source_user"] for n in listed)
    status = subprocess.run([str(MAILFERRY), "status", str(project.toml), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    people = json.loads(status.stdout)
    assert people["wave_times"]["pilot"]["start"] == pilot_start().isoformat()
    assert sorted((n["source_user"], n["kind"], n["state"]) for n in people["notices"]) == [
        (u, "before", "sent") for u in ("ana@old.example", "jean@old.example", "x@old.example")]
    shown = subprocess.run([str(MAILFERRY), "status", str(project.toml)], capture_output=True,
                           text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}).stdout
    assert "Wave dates (Asia/Kuala_Lumpur)" in shown and "Notices" in shown


def test_a_changed_date_is_announced_once_then_the_reminder_comes_the_day_before(
        tmp_path: Path, sink: SmtpSink) -> None:
    first = pilot_start(3)
    project = write_project(tmp_path, sink.port, start=first)
    assert run_notify(project).returncode == 0
    moved = pilot_start(5)
    project.set_pilot_start(moved)
    assert run_notify(project).returncode == 0
    changed = [parse(r.data) for r in sink.received[3:]]
    assert len(changed) == 3
    ana = next(m for m in changed if m["To"] == "ana@old.example")
    assert ana["Subject"].startswith("New date:")
    text, _ = parts(ana)
    assert f"It was {format_moment(first, 'en')}; it is now from {format_moment(moved, 'en')}" \
        in text
    assert run_notify(project).returncode == 0
    assert len(sink.received) == 6  # nothing new: the new date was announced
    eve = (moved - dt.timedelta(days=1)).date().isoformat()
    assert run_notify(project, "--today", eve, "--user", "ana@old.example").returncode == 0
    reminder = parse(sink.received[-1].data)
    assert len(sink.received) == 7 and reminder["Subject"].startswith("Reminder:")
    assert reminder["To"] == "ana@old.example"


def test_a_4xx_is_retried_and_a_5xx_is_reported_for_that_user_only(tmp_path: Path) -> None:
    with SmtpSink(tls=True, auth=(SMTP_USER, SMTP_PASSWORD), defer_first=1,
                  reject=frozenset({"jean@old.example"})) as sink:
        project = write_project(tmp_path, sink.port)
        done = run_notify(project, "--json")
        assert done.returncode == 1, done.stderr
        result = json.loads(done.stdout)
        failed = [n for n in result["notices"] if n["status"] == "failed"]
        assert [n["source_user"] for n in failed] == ["jean@old.example"]
        assert "550" in failed[0]["error"] and "127.0.0.1" in failed[0]["error"]
        assert sink.deferred == 1
        assert sorted(by_recipient(sink)) == ["ana@old.example", "x@old.example"]
        again = run_notify(project, "--json")  # jean is tried again, nobody else
        assert again.returncode == 1
        assert [n["source_user"] for n in json.loads(again.stdout)["notices"]] == [
            "jean@old.example"]
        assert len(sink.received) == 2


def test_a_wrong_smtp_password_is_exit_2_and_never_printed(tmp_path: Path,
                                                            sink: SmtpSink) -> None:
    project = write_project(tmp_path, sink.port)
    env = {**os.environ, "NOTIFY_SMTP_PASSWORD": "not-the-password-42"}
    done = subprocess.run([str(MAILFERRY), "notify", str(project.toml)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "AUTH" in done.stderr and "not-the-password-42" not in done.stderr + done.stdout
    assert sink.received == []


def test_zone_of_the_migration_when_the_user_has_none(tmp_path: Path, sink: SmtpSink) -> None:
    start = pilot_start()
    project = write_project(tmp_path, sink.port, start=start)
    assert run_notify(project, "--user", "ana@old.example").returncode == 0
    text, _ = parts(parse(sink.received[0].data))
    assert f"at {start:%H:%M} " in text and start.tzinfo == ZONE
