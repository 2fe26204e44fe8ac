"""A flag change with no new mail is carried by the next run.

A folder whose UIDVALIDITY and UIDNEXT did not move can still have changed: a message read,
flagged or answered moves only HIGHESTMODSEQ (CONDSTORE). The "unchanged" shortcut must look
at it, or the change is never copied.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.copykit import mailbox, run_copy

DATE = dt.datetime(2022, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _message(n: int) -> SeedMessage:
    raw = (f"From: a@example.org\r\nMessage-ID: <f{n}@example.org>\r\nSubject: flags {n}\r\n"
           f"\r\nbody {n}\r\n").encode()
    return SeedMessage(raw, "INBOX" if n % 2 else "Work", (), DATE)


def _store_flags(server: Dovecot, folder: str, uid: int, change: str) -> None:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        conn.select(folder)
        typ, data = conn.uid("STORE", str(uid), *change.split(" ", 1))
        assert typ == "OK", data
    finally:
        conn.logout()


def test_a_flag_only_change_is_copied_on_the_next_run(source: Dovecot, target: Dovecot,
                                                      state: Path) -> None:
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, [_message(n) for n in range(6)])
    conn.logout()
    assert run_copy(source, target, state).total("copied") == 6
    assert mailbox(target) == mailbox(source)

    # only flags change: no new message anywhere, UIDNEXT stays where it was
    _store_flags(source, "INBOX", 1, "+FLAGS (\\Seen \\Flagged)")
    _store_flags(source, "Work", 2, "+FLAGS (\\Answered $Forwarded)")
    _store_flags(source, "Work", 3, "+FLAGS (\\Seen)")
    changed = mailbox(source)
    assert changed != mailbox(target)
    summary = run_copy(source, target, state)
    assert summary.ok, summary.to_json()
    assert summary.total("copied") == 0
    assert summary.total("flags_updated") == 3
    assert mailbox(target) == changed

    # and a flag taken away
    _store_flags(source, "Work", 3, "-FLAGS (\\Seen)")
    summary = run_copy(source, target, state)
    assert summary.total("flags_updated") == 1
    assert mailbox(target) == mailbox(source)
    # nothing changed since: every folder is passed over after one STATUS
    quiet = run_copy(source, target, state)
    assert {f.status for f in quiet.folders} == {"unchanged"}
