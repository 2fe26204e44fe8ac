"""`mailferry import maildir|mbox`: exports from elsewhere into a real server, exactly."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections import Counter
from pathlib import Path

from mailferry.backup import maildir_source
from testbed import Dovecot, imap_login, read_folder
from testbed.backupkit import restore, run_cli
from testbed.corpus import corpus_files


def _loose(raw: bytes) -> bytes:
    return re.sub(rb"\r*\n|\r", b"\n", raw).replace(b"\x00", b"\x80")


def test_corpus_as_a_maildir_imports_exactly_or_reports_why(target: Dovecot,
                                                            tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    sent: dict[str, bytes] = {}
    when = dt.datetime(2012, 3, 4, 5, 6, 7, tzinfo=dt.UTC).timestamp()
    for n, file in enumerate(corpus_files()):
        path = maildir / "cur" / f"{n:05d}.corpus:2,{'S' if n % 2 else ''}"
        path.write_bytes(file.read_bytes())
        os.utime(path, (when, when))
        sent[path.name] = file.read_bytes()
    summary = restore(maildir, target, tmp_path / "state.db",
                      opener=maildir_source(maildir, "Imported"))
    assert summary.total("copied") == len(sent)
    conn = imap_login(target.host, target.port, "alice", target.password())
    stored = read_folder(conn, "Imported")
    conn.logout()
    assert {m.internaldate for m in stored} == {"04-Mar-2012 05:06:07 +0000"}
    arrived = Counter(m.sha256 for m in stored)
    not_identical: list[bytes] = []
    for raw in sent.values():
        digest = hashlib.sha256(raw).hexdigest()
        if arrived[digest]:
            arrived[digest] -= 1
        else:
            not_identical.append(raw)
    changed: list[bytes] = []  # stored messages identical to nothing that was sent
    for message in stored:
        if arrived[message.sha256] > 0:
            arrived[message.sha256] -= 1
            changed.append(message.body)
    # what did not arrive byte-identical differs only where the server rewrites: line ends
    # (IMAP lines end in CRLF; Dovecot drops a CR before CRLF) and NUL bytes (stored as
    # 0x80); the copy reports every such message: line endings alone as "normalised" (a
    # warning), anything else (NUL, a dropped CR) as "altered", with the reason
    assert Counter(_loose(b) for b in changed) == Counter(_loose(r) for r in not_identical)
    kinds = Counter(f.kind for f in summary.failures)
    assert len(summary.failures) == len(not_identical)
    assert set(kinds) == {"altered", "normalised"}
    assert kinds["altered"] >= sum(b"\x00" in r for r in not_identical) > 0
    assert all("NUL" in f.reason for f in summary.failures if f.kind == "altered")
    assert not summary.ok  # altered messages make the run finish with failures (exit 1)
    again = restore(maildir, target, tmp_path / "state.db",
                    opener=maildir_source(maildir, "Imported"))
    assert again.total("copied") == 0


def test_mbox_import_through_the_cli_keeps_flags_and_dates(target: Dovecot,
                                                           tmp_path: Path) -> None:
    mbox = tmp_path / "export.mbox"
    messages = [
        (b"From a@old.example Sat Jan  3 01:05:34 2015\n", b"Subject: one\nStatus: RO\n"
         b"X-Status: A\nMessage-ID: <1@x>\n\nfirst body\nFrom here on, not a new message\n"),
        (b"From b@old.example Mon Feb 16 12:00:00 2015\n", b"Subject: two\nMessage-ID: <2@x>\n"
         b"\nsecond body\n"),
    ]
    mbox.write_bytes(b"\n".join(head + body for head, body in messages) + b"\n")
    state = tmp_path / "state.db"
    args = ["import", "mbox", str(mbox), target.url(), "--folder", "Old/Export", "--state",
            str(state)]
    done = run_cli(args, target=target)
    assert done.returncode == 0, done.stderr + done.stdout
    conn = imap_login(target.host, target.port, "alice", target.password())
    stored = sorted(read_folder(conn, "Old/Export"), key=lambda m: m.uid)
    conn.logout()
    assert [m.body.replace(b"\r\n", b"\n") for m in stored] == [b for _, b in messages]
    assert stored[0].flags == {"\\Seen", "\\Answered"} and stored[1].flags == set()
    assert [m.internaldate for m in stored] == ["03-Jan-2015 01:05:34 +0000",
                                                "16-Feb-2015 12:00:00 +0000"]
    assert "copied: 0" in run_cli(args, target=target).stdout

    bad = run_cli(["import", "mbox", str(tmp_path / "nope.mbox"), target.url()], target=target)
    assert bad.returncode == 2 and "nope.mbox" in bad.stderr
