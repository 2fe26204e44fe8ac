"""Copying into GNU imap4d (issue 20 point 1), whose folders are mbox files or directories,
never both: a folder that holds mail cannot get children. The hierarchy is built the way
the server can hold it, what it cannot hold is that folder's failure with the server's
words, every other folder is copied, and re-runs (same state, fresh state) add nothing."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.checker import account_snapshot
from testbed.chroot import ChrootServer
from testbed.imap4d import Imap4d

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "realworld"
DATE = dt.datetime(2012, 7, 6, 8, 0, tzinfo=dt.UTC)


def message(n: int) -> bytes:
    return (f"From: a@example.org\r\nMessage-ID: <{n}@example.org>\r\nSubject: message {n}"
            f"\r\n\r\nbody {n}\r\n").encode()


def copy(source: Dovecot, target: ChrootServer, state: Path) -> dict[str, object]:
    pw = state.parent
    (pw / "s.pw").write_text(source.password() + "\n")
    (pw / "t.pw").write_text(target.password("alice") + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "mailferry", "copy", "--json", "--state", str(state),
         "--source-password-file", str(pw / "s.pw"), "--target-password-file", str(pw / "t.pw"),
         f"imap://alice@{source.host}:{source.port}", f"imap://alice@{target.host}:{target.port}"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def counts(target: ChrootServer) -> dict[str, int]:
    snap = account_snapshot(target.host, target.port, "alice", target.password("alice"))
    return {name: len(folder.messages) for name, folder in snap.folders.items()
            if folder.messages}


def test_imap4d_target_gets_the_hierarchy_it_can_hold(
        dovecot_factory: Callable[..., Dovecot],
        chroot_factory: Callable[..., ChrootServer], tmp_path: Path) -> None:
    source = dovecot_factory()
    # Archive (1) < Archive/2003 (3) + Q1 (1): Archive's own mail is what cannot be kept;
    # Archive/2003 (3) > Q1 (1): Q1 is refused. Two corpus messages start with a line of
    # spaces, which imap4d takes for the end of the header (BODY[HEADER] is bookkeeping only)
    layout = {"Archive": [1], "Archive/2003": [2, 3, 4], "Archive/2003/Q1": [5],
              "Projets": [6], "Projets/Café": [7, 8]}
    messages = [SeedMessage(message(n), folder.replace("é", "&AOk-"), (), DATE)
                for folder, numbers in layout.items() for n in numbers]
    messages += [SeedMessage((CORPUS / name).read_bytes(), "INBOX", (), DATE)
                 for name in ("flanker/enclosed.eml", "flanker/mailgun-pic.eml")]
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, messages)
    conn.logout()
    target = chroot_factory(Imap4d)

    summary = copy(source, target, tmp_path / "state.db")
    folders = {f["source"]: f for f in summary["folders"]}  # type: ignore[attr-defined]
    assert counts(target) == {"INBOX": 2, "Archive/2003": 3, "Projets/Café": 2}, summary
    assert summary["totals"]["copied"] == 7, summary  # type: ignore[index]
    assert folders["Archive"]["status"] == "failed" and folders["Archive"]["failed"] == 1
    assert "folder of folders" in folders["Archive"]["error"]
    assert folders["Projets"]["failed"] == 1
    assert folders["Archive/2003/Q1"]["failed"] == 1
    assert "Cannot create mailbox" in folders["Archive/2003/Q1"]["error"]  # imap4d's words
    assert not [f for f in summary["failures"] if f["kind"] == "rejected"], summary  # type: ignore[attr-defined]
    for state in ("state.db", "fresh.db"):
        again = copy(source, target, tmp_path / state)
        assert again["totals"]["copied"] == 0, again  # type: ignore[index]
        assert counts(target) == {"INBOX": 2, "Archive/2003": 3, "Projets/Café": 2}


def test_imap4d_rewrite_that_keeps_the_size_is_reported(
        dovecot_factory: Callable[..., Dovecot],
        chroot_factory: Callable[..., ChrootServer], tmp_path: Path) -> None:
    """imap4d drops a "Status:" field it is sent and writes "X-UID: n" in: for "Status: U"
    and a two-digit UID the size stays the same (until imap4d adds "Status: O" later). The
    read-back samples the first messages of a batch and compares sizes: the sample showed
    imap4d rewriting every message, yet the 11th of the same batch, same size, went
    unreported (the cyrus -> imap4d pair). Every message whose stored bytes differ, read
    back independently, must be reported."""
    source = dovecot_factory()
    bodies = [message(n) for n in range(1, 13)]
    bodies[10] = bodies[10].replace(b"\r\n\r\n", b"\r\nStatus: U\r\n\r\n", 1)
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, [SeedMessage(body, "Folder", (), DATE) for body in bodies])
    conn.logout()
    target = chroot_factory(Imap4d)

    summary = copy(source, target, tmp_path / "state.db")
    snap = account_snapshot(target.host, target.port, "alice", target.password("alice"))
    stored = [snap.bodies[m.sha256] for m in snap.folders["Folder"].messages]
    # the case at hand (imap4d adds "Status: O" later, once the message is no longer \Recent)
    assert [b"Status: U" in b for b in stored if b"X-UID: 11\r\n" in b] == [False]
    changed = {b.split(b"Subject: ")[1].split(b"\r\n")[0].decode() for b in stored
               if b not in bodies}
    reported = {f["subject"] for f in summary["failures"]  # type: ignore[attr-defined]
                if f["kind"] == "altered" and "[headers]" in f["reason"]}
    assert "message 11" in changed
    assert changed <= reported, summary
