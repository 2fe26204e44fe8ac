"""docs/backup.md promises that re-runs "carry flag changes over": a flag changed on the
server, with no new mail, reaches the backup (the Maildir file name and what a restore puts
back), and a later restore shows the flags as they are now, not as they were."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from testbed import Dovecot, SeedMessage, imap_login
from testbed.backupkit import mailbox, mailbox_dir, put, run_cli

DATE = dt.datetime(2020, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


def _message(n: int, folder: str) -> SeedMessage:
    raw = (f"From: a@example.org\r\nMessage-ID: <b{n}@example.org>\r\nSubject: backup {n}\r\n"
           f"\r\nbody {n}\r\n").encode()
    return SeedMessage(raw, folder, ("\\Seen",) if n == 0 else (), DATE)


def _flags(server: Dovecot, folder: str, uid: int, change: str) -> None:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        conn.select(folder)
        typ, data = conn.uid("STORE", str(uid), *change.split(" ", 1))
        assert typ == "OK", data
    finally:
        conn.logout()


def _info_letters(directory: Path, folder: str) -> list[str]:
    return sorted(p.name.split(":2,")[1] for p in (directory / folder / "cur").iterdir())


def test_flag_changes_alone_reach_the_backup_and_the_restore(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put(source, [_message(n, "INBOX") for n in range(3)] + [_message(9, "Work")])
    root = tmp_path / "backup"
    directory = mailbox_dir(source, root)
    first = run_cli(["backup", source.url(), str(root), "--json"], source=source)
    assert first.returncode == 0, first.stderr
    assert _info_letters(directory, "INBOX") == ["", "", "S"]

    _flags(source, "INBOX", 2, "+FLAGS (\\Flagged \\Answered $Important)")
    _flags(source, "INBOX", 1, "-FLAGS (\\Seen)")  # UID 1 was \Seen: now unread
    _flags(source, "Work", 1, "+FLAGS (\\Seen)")
    second = run_cli(["backup", source.url(), str(root), "--json"], source=source)
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["fetched"] == 0
    assert {f["folder"]: f["flags_updated"] for f in result["folders"]
            if f["flags_updated"]} == {"INBOX": 2, "Work": 1}
    assert _info_letters(directory, "INBOX") == ["", "", "FR"]
    assert _info_letters(directory, "Work") == ["S"]
    check = run_cli(["backup", "--verify", str(root), "--json"])
    assert check.returncode == 0, check.stdout
    assert json.loads(check.stdout)["mailboxes"][0]["problems"] == []

    restored = run_cli(["restore", str(directory), target.url(), "--state",
                        str(tmp_path / "restore.db")], target=target)
    assert restored.returncode == 0, restored.stderr
    now = mailbox(source)
    got = mailbox(target)
    for folder in ("INBOX", "Work"):
        assert got[folder] == now[folder], folder  # keywords ($Important) included
