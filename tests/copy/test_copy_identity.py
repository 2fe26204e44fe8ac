"""Different messages that look alike are never taken for one another.

A Message-ID is not an identity: clients reuse it (a draft saved again, a message edited and
resent, a list that rewrites headers), so two different messages can carry the same one.
And two messages can have the same header block and different bodies. Both must arrive,
both must stay (a re-run brings nothing), and neither may be counted as "present" because
the other is in the target.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from mailferry.engine import fingerprint
from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.copykit import mailbox, run_copy

DATE = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def _raw(subject: str, body: str, mid: str = "<same@example.org>",
         date: str = "Thu, 4 Mar 2021 05:06:07 +0000") -> bytes:
    return (f"From: a@example.org\r\nTo: b@example.org\r\nMessage-ID: {mid}\r\n"
            f"Date: {date}\r\nSubject: {subject}\r\n\r\n{body}\r\n").encode()


# same Message-ID, different messages (an edited resend: another subject, another body)
FIRST = _raw("the offer", "Our price is 100.")
RESENT = _raw("the offer (corrected)", "Our price is 120.")
# the same header block, different bodies
HEADERS_ONLY_A = _raw("minutes", "Item 1: approved.", mid="<minutes@example.org>")
HEADERS_ONLY_B = _raw("minutes", "Item 1: rejected.", mid="<minutes@example.org>")
OTHER = _raw("unrelated", "hello", mid="<other@example.org>")


def put(server: Dovecot, raws: list[bytes], folder: str = "INBOX") -> None:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        seed(conn, [SeedMessage(raw, folder, (), DATE) for raw in raws])
    finally:
        conn.logout()


def bodies(server: Dovecot, folder: str = "INBOX") -> Counter[str]:
    return Counter(sha for sha, _, _ in mailbox(server)[folder].elements())


def test_same_message_id_different_messages_are_both_copied_and_kept(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    put(source, [FIRST, RESENT, HEADERS_ONLY_A, HEADERS_ONLY_B, OTHER])
    want = bodies(source)
    assert len(want) == 5  # five different messages (sha256 of the bytes)
    summary = run_copy(source, target, state)
    assert summary.ok, summary.to_json()
    assert summary.total("copied") == 5 and summary.total("present") == 0
    assert bodies(target) == want
    # a re-run with new mail, so the folder is looked at message by message
    put(source, [_raw("later", "new", mid="<later@example.org>")])
    again = run_copy(source, target, state)
    assert again.ok and again.total("copied") == 1
    assert bodies(target) == bodies(source)
    # and a run that remembers nothing (another state file): every target message is
    # "foreign" and must be claimed by the one source message it is, no more, no less
    fresh = run_copy(source, target, state.with_name("fresh.db"))
    assert fresh.ok and fresh.total("copied") == 0 and fresh.total("present") == 6
    assert bodies(target) == bodies(source)


def test_the_other_message_with_the_same_message_id_is_not_taken_as_present(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    """The target already holds one of two messages sharing a Message-ID (another tool
    copied it, or the relay delivered it): the other one is copied, the held one is not
    copied again. The source holds the other one first, so a matcher going by
    Message-ID would pair it with the held message and copy the held one a second time."""
    put(source, [RESENT, FIRST])
    put(target, [FIRST])
    summary = run_copy(source, target, state)
    assert summary.ok, summary.to_json()
    assert (summary.total("copied"), summary.total("present")) == (1, 1)
    assert bodies(target) == bodies(source)
    again = run_copy(source, target, state)
    assert again.total("copied") == 0 and bodies(target) == bodies(source)


def test_same_headers_different_bodies_with_one_already_in_the_target(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    """The fingerprint hashes the header block only: the source's first message claimed the
    target's copy of the other, and the held one was copied twice. When a fingerprint is
    shared and the target holds fewer, the bodies decide (sync._settle_shared_headers)."""
    put(source, [HEADERS_ONLY_B, HEADERS_ONLY_A])
    put(target, [HEADERS_ONLY_A])
    summary = run_copy(source, target, state)
    assert summary.ok, summary.to_json()
    assert (summary.total("copied"), summary.total("present")) == (1, 1)
    assert bodies(target) == bodies(source)


def test_a_message_without_header_lines_has_one_fingerprint(source: Dovecot, target: Dovecot,
                                                            state: Path) -> None:
    """A message whose first line is blank has an empty header block (RFC 5322: the header
    ends at the first empty line). The engine fingerprints the source's BODY[] and the
    target's BODY[HEADER]: both must stop at that first line, or the copy is recorded under
    a fingerprint the target's copy does not have (the body read as header lines)."""
    put(source, [b"\r\nno header at all\r\n\r\nsecond paragraph\r\n"])
    assert run_copy(source, target, state).total("copied") == 1
    for server in (source, target):
        conn = imap_login(server.host, server.port, "alice", server.password())
        try:
            conn.select("INBOX", readonly=True)
            typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[] BODY.PEEK[HEADER])")
        finally:
            conn.logout()
        assert typ == "OK"
        whole, header = (part[1] for part in data if isinstance(part, tuple))
        assert header == b"\r\n" and whole.startswith(b"\r\nno header")
        assert fingerprint(whole) == fingerprint(header)
