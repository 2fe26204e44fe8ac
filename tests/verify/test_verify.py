"""`verify` against a real copied mailbox, then against the same mailbox damaged on purpose."""

from __future__ import annotations

import datetime as dt
import imaplib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailferry.engine import CopyOptions, FolderFilters, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.report import render_page
from mailferry.store import StateStore
from mailferry.verify import VerifyReport, verify_mailbox
from testbed import Dovecot, SeedMessage, imap_login, read_folder, seed

FOLDERS = ["INBOX", "Work", "Trash"]


def account(server: Dovecot) -> Account:
    endpoint = parse_mailbox_url(server.url())
    return Account(endpoint, Credentials("alice", server.password()), TlsPolicy())


def message(n: int, body: str = "the body of the message\r\n" * 20) -> bytes:
    return (f"From: a@old.example\r\nTo: b@new.example\r\nSubject: number {n}\r\n"
            f"Message-ID: <{n}@old.example>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\n"
            f"{body}").encode()


@pytest.fixture
def copied(source: Dovecot, target: Dovecot, tmp_path: Path) -> Iterator[tuple[Dovecot, Dovecot]]:
    date = dt.datetime(2019, 2, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    messages = [SeedMessage(message(n), FOLDERS[n % 3], ("\\Seen",) if n % 2 else (), date)
                for n in range(30)]
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, messages)
    conn.logout()
    store = StateStore.open(tmp_path / "state.db")
    try:
        assert MailboxCopy(imap_source(account(source)), account(target), store,
                           CopyOptions()).run().ok
    finally:
        store.close()
    yield source, target


def target_conn(target: Dovecot, folder: str) -> imaplib.IMAP4:
    conn = imap_login(target.host, target.port, "alice", target.password())
    conn.select(folder)
    return conn


def uid_of(conn: imaplib.IMAP4, folder: str, n: int) -> int:
    return next(m.uid for m in read_folder(conn, folder) if f"<{n}@old.example>".encode()
                in m.body)


def test_an_exact_copy_verifies_clean(copied: tuple[Dovecot, Dovecot]) -> None:
    source, target = copied
    for deep in (False, True):
        report = verify_mailbox(account(source), account(target), deep=deep)
        assert report.ok, report.to_json()
        assert sum(f.source_messages for f in report.folders) == 30
        assert all(f.source_bytes == f.target_bytes for f in report.folders)
        assert sum(f.source_bytes for f in report.folders) > 0
    assert report.bytes_hashed > 0


def test_each_kind_of_damage_is_reported(copied: tuple[Dovecot, Dovecot]) -> None:
    source, target = copied
    conn = target_conn(target, "INBOX")
    try:
        deleted = uid_of(conn, "INBOX", 0)
        flagged = uid_of(conn, "INBOX", 3)
        truncated = uid_of(conn, "INBOX", 6)
        conn.select("INBOX")
        conn.uid("STORE", str(deleted), "+FLAGS.SILENT", "(\\Deleted)")
        conn.expunge()
        conn.uid("STORE", str(flagged), "FLAGS.SILENT", "(\\Flagged)")  # was \Seen
        # the truncated copy keeps its headers: same fingerprint, fewer bytes
        conn.uid("STORE", str(truncated), "+FLAGS.SILENT", "(\\Deleted)")
        conn.expunge()
        date = '"03-Feb-2019 04:05:06 +0200"'
        conn.append("INBOX", "()", date, message(6, "the body\r\n"))
        conn.append("INBOX", "(\\Seen)", date, message(9))  # message 9 twice in the target
    finally:
        conn.logout()

    report = verify_mailbox(account(source), account(target))
    assert not report.ok
    by_mid = {(d.kind, d.message_id): d for d in report.differences}
    assert ("missing", "<0@old.example>") in by_mid
    assert by_mid[("missing", "<0@old.example>")].source_uid is not None
    assert "flags" in by_mid[("different", "<3@old.example>")].detail
    assert by_mid[("different", "<3@old.example>")].target_uid == flagged
    assert "size" in by_mid[("different", "<6@old.example>")].detail
    extra = by_mid[("extra", "<9@old.example>")]
    assert extra.target_uid is not None and "duplicate" in extra.detail
    assert len(report.differences) == 4, report.to_json()
    inbox = next(f for f in report.folders if f.source == "INBOX")
    assert (inbox.source_messages, inbox.target_messages) == (10, 10)  # -1 +1: counts alone lie
    assert inbox.source_bytes != inbox.target_bytes

    html = render_page(report)
    assert "&lt;6@old.example&gt;" in html and "missing" in html


def test_deep_catches_a_same_size_body_change(copied: tuple[Dovecot, Dovecot]) -> None:
    source, target = copied
    conn = target_conn(target, "Work")
    try:
        uid = uid_of(conn, "Work", 1)
        conn.select("Work")
        conn.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        conn.expunge()
        altered = message(1).replace(b"the body", b"THE BODY", 1)
        conn.append("Work", "(\\Seen)", '"03-Feb-2019 04:05:06 +0200"', altered)
    finally:
        conn.logout()
    assert verify_mailbox(account(source), account(target)).ok  # headers, size, flags agree
    deep = verify_mailbox(account(source), account(target), deep=True)
    assert [(d.kind, d.message_id, d.detail) for d in deep.differences] == [
        ("different", "<1@old.example>", "body sha256 differs")]


def test_excluded_and_missing_folders(copied: tuple[Dovecot, Dovecot]) -> None:
    source, target = copied
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, [SeedMessage(message(99), "Later")])
    conn.logout()
    report = verify_mailbox(account(source), account(target),
                            filters=FolderFilters(exclude_special=("\\Trash",)))
    assert [(e.folder, e.reason) for e in report.excluded] == [
        ("Trash", "--exclude-special \\Trash")]
    assert [(d.kind, d.folder) for d in report.differences] == [("folder-missing", "Later")]
    assert "Trash" not in {f.source for f in report.folders}


def cli_verify(source: Dovecot, target: Dovecot, *extra: str) -> tuple[int, str]:
    from testbed.backupkit import run_cli

    done = run_cli(["verify", source.url(), target.url(), *extra], source=source, target=target)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, done.stdout


def test_cli_exit_status_json_table_and_html(copied: tuple[Dovecot, Dovecot],
                                             tmp_path: Path) -> None:
    source, target = copied
    code, out = cli_verify(source, target, "--deep")
    assert code == 0 and "no differences" in out
    conn = target_conn(target, "Work")
    uid = uid_of(conn, "Work", 1)
    conn.select("Work")
    assert conn.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Flagged)")[0] == "OK"
    conn.logout()
    html = tmp_path / "verify.html"
    code, out = cli_verify(source, target, "--json", "--html", str(html))
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False and data["totals"]["different"] == 1
    assert data["differences"][0]["message_id"] == "<1@old.example>"
    assert "<1@old.example>" not in html.read_text() and "&lt;1@old.example&gt;" in \
        html.read_text()
    code, out = cli_verify(source, target)
    assert code == 1 and "different" in out and "<1@old.example>" in out


def test_report_is_data(copied: tuple[Dovecot, Dovecot]) -> None:
    source, target = copied
    report = verify_mailbox(account(source), account(target))
    assert isinstance(report, VerifyReport)
    assert json.loads(json.dumps(report.to_json()))["totals"]["source_messages"] == 30


GMAIL = {"\\All": "[Gmail]/All Mail", "\\Sent": "[Gmail]/Sent Mail",
         "\\Drafts": "[Gmail]/Drafts", "\\Trash": "[Gmail]/Trash", "\\Junk": "[Gmail]/Spam"}


def test_verify_expects_what_copy_promised_for_gmail_all_mail(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """Issue 20 point 8: after a default copy from a Gmail layout (All Mail brings only the
    messages no label holds), verify reported the labelled ones as missing from All Mail.
    Now it takes `--all-mail unfiled|copy` as copy does, unfiled by default."""
    from testbed.backupkit import run_cli

    source = dovecot_factory(special=GMAIL)
    labelled = [SeedMessage(message(n), folder) for n, folder in
                ((1, "INBOX"), (2, "Work"), (3, "Work"), (4, "[Gmail]/Sent Mail"))]
    archived = [SeedMessage(message(n), "[Gmail]/All Mail") for n in (5, 6)]
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, labelled + [SeedMessage(m.raw, "[Gmail]/All Mail") for m in labelled] + archived)
    conn.logout()
    for all_mail in ("unfiled", "copy"):
        target = dovecot_factory()
        done = run_cli(["copy", "--state", str(tmp_path / f"{all_mail}.db"), "--all-mail",
                        all_mail, source.url(), target.url()], source=source, target=target)
        assert done.returncode == 0, done.stderr
        report = verify_mailbox(account(source), account(target))  # default: unfiled
        if all_mail == "unfiled":
            assert report.ok, report.to_json()
            assert report.to_json()["totals"]["filed_elsewhere"] == 4
            code, out = cli_verify(source, target)
            assert code == 0 and "4 message(s) also in other folders" in out, out
            code, out = cli_verify(source, target, "--all-mail", "copy", "--json")
            assert code == 1 and json.loads(out)["totals"]["missing"] == 4, out
            # a lost archived message is still missing
            conn = target_conn(target, "INBOX")
            uid = uid_of(conn, "[Gmail]/All Mail", 5)
            assert conn.select('"[Gmail]/All Mail"')[0] == "OK"
            assert conn.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
            conn.expunge()
            conn.logout()
            code, out = cli_verify(source, target, "--json")
            data = json.loads(out)
            assert code == 1 and [(d["kind"], d["message_id"]) for d in data["differences"]] \
                == [("missing", "<5@old.example>")], out
        else:
            assert report.count("extra") == 4, report.to_json()
            code, out = cli_verify(source, target, "--all-mail", "copy", "--deep")
            assert code == 0 and "no differences" in out, out
