"""verify compares INTERNALDATE: a copy whose bytes, flags and size are right but whose date
is not (the trap of tools that lose it, so old mail shows as received today) is reported."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.verify import verify_mailbox
from testbed import Dovecot, SeedMessage, imap_login, read_folder, seed
from testbed.backupkit import run_cli

DATE = dt.datetime(2018, 7, 8, 9, 10, 11, tzinfo=dt.UTC)


def _account(server: Dovecot) -> Account:
    return Account(parse_mailbox_url(server.url()), Credentials("alice", server.password()),
                   TlsPolicy())


def _raw(n: int) -> bytes:
    return (f"From: a@example.org\r\nMessage-ID: <d{n}@example.org>\r\nSubject: dated {n}\r\n"
            f"\r\nbody {n}\r\n").encode()


def _redate(server: Dovecot, n: int, when: str) -> int:
    """Replace message n in the target by the same bytes and flags with another date."""
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        (old,) = [m for m in read_folder(conn, "INBOX") if m.body == _raw(n)]
        conn.select("INBOX")
        conn.uid("STORE", str(old.uid), "+FLAGS.SILENT", "(\\Deleted)")
        conn.expunge()
        flags = "(" + " ".join(sorted(old.flags)) + ")"
        typ, data = conn.append("INBOX", flags, f'"{when}"', _raw(n))
        assert typ == "OK", data
        (new,) = [m for m in read_folder(conn, "INBOX") if m.body == _raw(n)]
        assert (new.flags, new.sha256) == (old.flags, old.sha256)
        return new.uid
    finally:
        conn.logout()


def test_an_internaldate_difference_is_reported(source: Dovecot, target: Dovecot,
                                                tmp_path: Path) -> None:
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, [SeedMessage(_raw(n), "INBOX", ("\\Seen",), DATE) for n in range(4)])
    conn.logout()
    copied = run_cli(["copy", source.url(), target.url(), "--state", str(tmp_path / "s.db")],
                     source=source, target=target)
    assert copied.returncode == 0, copied.stderr
    assert verify_mailbox(_account(source), _account(target)).ok

    uid = _redate(target, 2, "08-Jul-2024 09:10:11 +0000")  # received "today"
    for deep in (False, True):
        report = verify_mailbox(_account(source), _account(target), deep=deep)
        assert [(d.kind, d.message_id, d.target_uid) for d in report.differences] == [
            ("different", "<d2@example.org>", uid)], report.to_json()
        (difference,) = report.differences
        assert "internaldate" in difference.detail and "2018" in difference.detail
        assert "2024" in difference.detail

    # the CLI says so and exits 1
    done = run_cli(["verify", source.url(), target.url(), "--json"], source=source,
                   target=target)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["totals"]["different"] == 1
