"""--preview writes what each user would get and sends nothing; credentials letters hold
the password and only they do; the "moved" notice follows a verified mailbox; bad input
is exit 2 naming the file and line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from mailferry.status import MailboxStatus
from mailferry.store import ProjectState
from testbed.notifykit import USERS, parse, parts, run_notify, write_project
from testbed.smtp_sink import SmtpSink


def test_preview_writes_an_eml_and_an_html_per_user_and_sends_nothing(
        tmp_path: Path, sink: SmtpSink) -> None:
    project = write_project(tmp_path, sink.port)
    out = tmp_path / "preview"
    done = run_notify(project, "--preview", str(out))
    assert done.returncode == 0, done.stderr
    assert sink.received == []
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{u}.before.{ext}" for u in ("ana@old.example", "jean@old.example",
                                                   "x@old.example") for ext in ("eml", "html")]
    eml = parse((out / "jean@old.example.before.eml").read_bytes())
    text, html = parts(eml)
    assert "Bonjour Jean Dupont" in text
    assert (out / "jean@old.example.before.html").read_text() == html.replace("\r\n", "\n")
    assert "&lt;script&gt;" in (out / "x@old.example.before.html").read_text()
    # a preview is not a notice: the real run still sends all three
    assert json.loads(run_notify(project, "--list", "--json").stdout)["notices"] == []
    assert run_notify(project).returncode == 0
    assert len(sink.received) == 3


def test_credentials_letters_hold_the_password_and_the_notices_do_not(
        tmp_path: Path, sink: SmtpSink) -> None:
    project = write_project(tmp_path, sink.port, extra_notify='credentials = "letter"')
    letters = tmp_path / "letters"
    done = run_notify(project, "--letters", str(letters), "--wave", "pilot")
    assert done.returncode == 0, done.stderr
    assert sink.received == []
    assert stat.S_IMODE(letters.stat().st_mode) == 0o700
    files = sorted(letters.iterdir())
    assert [f.name for f in files] == ["ana@old.example.letter.html",
                                       "jean@old.example.letter.html",
                                       "x@old.example.letter.html"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert "Jean-New-Pw-2" in files[1].read_text()
    assert "Votre nouveau compte" in files[1].read_text()
    assert "&lt;script&gt;" in files[2].read_text()
    assert "Jean-New-Pw-2" not in done.stdout + done.stderr
    assert run_notify(project).returncode == 0
    for received in sink.received:
        text, html = parts(parse(received.data))
        assert "letter" in text or "lettre" in text
        assert not any(pw in text + html for pw in ("Ana-New-Pw-1", "Jean-New-Pw-2",
                                                    "X-New-Pw-3"))


def test_a_verified_mailbox_gets_the_moved_notice_once(tmp_path: Path,
                                                       sink: SmtpSink) -> None:
    project = write_project(tmp_path, sink.port)
    with ProjectState.open(project.state) as state:
        state.record_verification(source_user="bo@old.example", target_user="bo@bank.example",
                                  wave="w2", department="sales",
                                  source="imap://bo@old:993", target="imap://bo@new:993",
                                  result={"ok": True, "differences": 0})
        assert state.records()["bo@old.example"].status == MailboxStatus.VERIFIED
    assert run_notify(project, "--user", "bo@old.example").returncode == 0
    assert run_notify(project, "--user", "bo@old.example").returncode == 0
    assert len(sink.received) == 1
    moved = parse(sink.received[0].data)
    assert moved["Subject"] == "Your mailbox has moved: set up your mail apps"
    text, _ = parts(moved)
    assert "imap.newmail.example, port 993, SSL/TLS" in text


def test_a_language_without_templates_is_exit_2_naming_the_line(tmp_path: Path,
                                                                sink: SmtpSink) -> None:
    users = USERS.replace("Bo,en,", "Bo,de,")
    project = write_project(tmp_path, sink.port, users=users)
    done = run_notify(project)
    assert done.returncode == 2
    assert "users.csv:5" in done.stderr and "'de'" in done.stderr
    assert sink.received == []


def test_project_templates_override_the_shipped_ones_and_the_profile_link_shows(
        tmp_path: Path, sink: SmtpSink) -> None:
    custom = tmp_path / "mytemplates" / "en"
    custom.mkdir(parents=True)
    (custom / "subject.txt.j2").write_text("Move of {{ user.login }} on {{ wave.start_day }}")
    project = write_project(tmp_path, sink.port, extra_notify='templates = "mytemplates"\n'
                            'autoconfig_url = "https://autoconfig.bank.example/"')
    assert run_notify(project, "--user", "ana@old.example").returncode == 0
    message = parse(sink.received[0].data)
    assert message["Subject"].startswith("Move of ana@bank.example on ")
    text, html = parts(message)
    assert "Hello Ana Lima" in text  # the body is still the shipped one
    # with autoconfig served, the notice links the user's own Apple profile
    link = "https://autoconfig.bank.example/mobileconfig/ana@bank.example"
    assert f"open this profile: {link}" in text and f'<a href="{link}">' in html
