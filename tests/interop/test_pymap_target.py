"""Re-runs into pymap, which re-serialises some headers it parses (issue 20 point 5): a
header ended by a line of spaces comes back ended by an empty line, and an obsolete header
("Subject :" with blank folded lines) comes back with an empty line first, so its
BODY[HEADER] is empty; a second From is dropped; a line that is no field ends the header.
A re-run with a fresh state must still find them all and add nothing, from Dovecot and
from imap4d (which stores such a header its own way first)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.basekit import run_copy
from testbed.checker import account_snapshot
from testbed.chroot import ChrootServer
from testbed.cyrus import Cyrus
from testbed.imap4d import Imap4d
from testbed.pymap import Pymap

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "realworld"
DATE = dt.datetime(2003, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
REWRITTEN = ("james-mime4j/mimetools__hdr-fakeout.msg.eml",  # header ends with " \r\n"
             "james-mime4j/testmsgs__obsolete.msg.eml",  # served with an empty line first
             "rspamd/phish_sender.eml",  # two From fields: pymap keeps the first
             "rspamd/phish_sender4.eml")  # "From\r\n : x": pymap ends the header above


def held(server: Pymap) -> int:
    snap = account_snapshot(server.host, server.port, "alice", server.password("alice"))
    return sum(len(f.messages) for f in snap.folders.values())


def copy_then_rerun(source: Dovecot | ChrootServer, names: tuple[str, ...],
                    tmp_path: Path) -> None:
    """Seed `names` into the source's INBOX, copy into a fresh pymap, re-run with the same
    and with a fresh state: nothing added."""
    conn = imap_login(source.host, source.port, "alice", source.password("alice"))
    seed(conn, [SeedMessage((CORPUS / name).read_bytes(), "INBOX", (), DATE)
                for name in names])
    conn.logout()
    target = Pymap().start()
    try:
        first = run_copy(source, target, tmp_path / "state.db")  # type: ignore[arg-type]
        assert first.total("copied") == len(names) and held(target) == len(names)
        for state in ("state.db", "fresh.db"):
            again = run_copy(source, target, tmp_path / state)  # type: ignore[arg-type]
            assert again.total("copied") == 0, state
            assert held(target) == len(names), state
    finally:
        target.cleanup()


def test_fresh_state_rerun_into_pymap_finds_what_it_re_serialised(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    copy_then_rerun(dovecot_factory(), REWRITTEN, tmp_path)


def test_fresh_state_rerun_from_imap4d_into_pymap_finds_what_pymap_re_serialised(
        chroot_factory: Callable[..., ChrootServer], tmp_path: Path) -> None:
    """imap4d serves the obsolete header as "Subject: ...\\r\\n   \\r\\n and also ..." (a
    line of blanks, then the field goes on); pymap folds that into one Subject and ends the
    header above "Inval\\xecd-Header:" (no field name with 8-bit bytes). The robust
    fingerprint took the line of blanks for the end of the header: the fresh-state re-run
    of imap4d -> pymap copied this message again (the matrix's one duplicate). Cutting the
    robust fingerprint there as pymap does made imap4d -> cyrus duplicate it instead
    (Cyrus keeps "InvalXd-Header"): the matcher tries the cut one second. imap4d refuses
    the other two corpus messages ("TRYCREATE failed")."""
    copy_then_rerun(chroot_factory(Imap4d), REWRITTEN[1:3], tmp_path)


def test_a_message_found_only_through_a_rewrite_is_reported_as_altered(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """A message the target already holds, rewritten (ours, from a MULTIAPPEND pymap cut
    short, or another tool's), is paired by its robust fingerprint: the pair passed as
    exact while the server had changed it. Now it is read back and its changes reported."""
    raw = (CORPUS / "rspamd/phish_sender.eml").read_bytes()  # pymap drops the second From
    source = dovecot_factory()
    conn = imap_login(source.host, source.port, "alice", source.password())
    seed(conn, [SeedMessage(raw, "INBOX", (), DATE)])
    conn.logout()
    target = Pymap().start()
    try:
        conn = imap_login(target.host, target.port, "alice", target.password("alice"))
        seed(conn, [SeedMessage(raw, "INBOX", (), DATE)])
        conn.logout()
        summary = run_copy(source, target, tmp_path / "state.db")  # type: ignore[arg-type]
        assert summary.total("copied") == 0 and summary.total("present_rewritten") == 1
        (failure,) = summary.failures
        assert failure.kind == "altered" and "headers" in failure.reason, failure
        assert held(target) == 1
    finally:
        target.cleanup()


def test_a_message_found_with_another_size_is_read_back_and_reported(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """Found by its exact header fingerprint but with another RFC822.SIZE (pymap serves
    bodies with bare LF): a copy from an attempt pymap cut short, counted present and never
    read back, so dovecot -> pymap left 5 changed messages unreported. Now read back."""
    raw = b"From: a@example.org\r\nSubject: lines\r\nMessage-ID: <lf@x>\r\n\r\none\r\ntwo\r\n"
    source = dovecot_factory()
    for server, password in ((source, source.password()), (target := Pymap().start(), None)):
        conn = imap_login(server.host, server.port, "alice", password or server.password("alice"))
        seed(conn, [SeedMessage(raw, "INBOX", (), DATE)])
        conn.logout()
    try:
        summary = run_copy(source, target, tmp_path / "state.db")  # type: ignore[arg-type]
        assert summary.total("copied") == 0 and summary.total("present") == 1
        (failure,) = summary.failures
        assert failure.kind == "normalised" and "line_endings" in failure.reason, failure
    finally:
        target.cleanup()


def test_fresh_state_rerun_from_mbox_into_cyrus_finds_the_field_cyrus_kept(
        chroot_factory: Callable[..., ChrootServer], tmp_path: Path) -> None:
    """The other side of the test above: Cyrus keeps "Inval\\xecd-Header:" as
    "InvalXd-Header:", so a robust fingerprint cut there (as pymap reads it) made the
    fresh-state re-run of imap4d -> cyrus copy the message again."""
    source = chroot_factory(Imap4d)
    conn = imap_login(source.host, source.port, "alice", source.password("alice"))
    seed(conn, [SeedMessage((CORPUS / REWRITTEN[1]).read_bytes(), "INBOX", (), DATE)])
    conn.logout()
    target = chroot_factory(Cyrus)
    first = run_copy(source, target, tmp_path / "state.db")  # type: ignore[arg-type]
    assert first.total("copied") == 1 and held(target) == 1  # type: ignore[arg-type]
    again = run_copy(source, target, tmp_path / "fresh.db")  # type: ignore[arg-type]
    assert again.total("copied") == 0 and held(target) == 1  # type: ignore[arg-type]
