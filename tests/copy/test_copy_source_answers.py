"""A source's FETCH answers are checked, not trusted: every UID asked for comes back exactly
once with its data, or the folder is incomplete (retried, then failed) and its high-water
mark stays before the gap, so a later run copies what was missed. The source is a scripted
server that misbehaves on purpose; the target is a real Dovecot, read back over IMAP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.copykit import account
from testbed.scripted_imap import Command, ScriptedImap

MESSAGES = [b"Message-ID: <m%d@example.org>\r\nSubject: message %d\r\n\r\nbody %d\r\n"
            % (n, n, n) for n in range(1, 6)]
Answers = list[tuple[int, bytes]]


def scripted_source(change: Callable[[Answers], Answers]) -> ScriptedImap:
    """A source whose INBOX holds MESSAGES (UIDs 1-5); `change` edits each FETCH answer that
    carries headers or bodies."""
    server = ScriptedImap()
    for raw in MESSAGES:
        server.folder("INBOX").add(raw, {"\\Seen"})

    def fetch(command: Command) -> None:
        answers = command.fetch_answers()
        if any(b"BODY[" in answer for _, answer in answers):
            answers = change(answers)
        command.send(*(answer for _, answer in answers))
        command.ok()

    server.script("UID FETCH", fetch)
    return server


def copy(source: ScriptedImap, target: Dovecot, state: Path) -> CopySummary:
    source_account = Account(parse_mailbox_url(source.url()), Credentials("alice", "alice-pw"),
                             TlsPolicy())
    store = StateStore.open(state)
    try:
        return MailboxCopy(imap_source(source_account), account(target), store,
                           CopyOptions(retries=1, backoff=0.01)).run()
    finally:
        store.close()


def inbox(target: Dovecot) -> Counter[bytes]:
    """The target INBOX as a multiset of bodies (each must be there exactly once)."""
    conn = imap_login(target.host, target.port, "alice", "alice-pw")
    try:
        _, data = conn.select("INBOX", readonly=True)
        if int(data[0] or 0) == 0:
            return Counter()
        _, items = conn.fetch("1:*", "(BODY.PEEK[])")
        return Counter(item[1] for item in items if isinstance(item, tuple))
    finally:
        conn.logout()


@pytest.fixture(params=["bodies", "headers"])
def path(request: pytest.FixtureRequest, target: Dovecot) -> str:
    """'headers': the target holds a message of its own, so the copy decides on headers
    first (a second FETCH whose answers are checked too)."""
    if request.param == "headers":
        conn = imap_login(target.host, target.port, "alice", "alice-pw")
        seed(conn, [SeedMessage(THEIRS, "INBOX")])
        conn.logout()
    return str(request.param)


THEIRS = b"Message-ID: <theirs@example.org>\r\nSubject: theirs\r\n\r\nx\r\n"


def expected(path: str) -> Counter[bytes]:
    """Each source message once, and the target's own message where there was one."""
    return Counter(MESSAGES) + (Counter([THEIRS]) if path == "headers" else Counter())


def test_a_uid_answered_twice_is_copied_once(path: str, target: Dovecot, tmp_path: Path) -> None:
    def repeat(answers: Answers) -> Answers:
        return answers + [a for a in answers if a[0] == 2]

    with scripted_source(repeat) as source:
        summary = copy(source, target, tmp_path / "state.db")
        again = copy(source, target, tmp_path / "state.db")
    assert summary.ok, summary.to_json()
    assert again.total("copied") == 0
    assert inbox(target) == expected(path)


@pytest.mark.parametrize("fault", ["omitted", "uid-0"])
def test_a_message_left_out_leaves_the_folder_incomplete_until_a_run_gets_it(
        fault: str, path: str, target: Dovecot, tmp_path: Path) -> None:
    def leave_out(answers: Answers) -> Answers:
        if fault == "omitted":
            return [a for a in answers if a[0] != 3]
        return [(uid, answer.replace(b"UID 3 ", b"UID 0 ")) for uid, answer in answers]

    state = tmp_path / "state.db"
    with scripted_source(leave_out) as source:
        summary = copy(source, target, state)
    assert not summary.ok
    (folder,) = summary.folders
    assert folder.status == "failed" and "UID 3 not returned" in (folder.error or ""), folder
    got = inbox(target)
    assert MESSAGES[2] not in got and all(got[m] == 1 for m in MESSAGES if m != MESSAGES[2])

    with scripted_source(lambda answers: answers) as source:  # the source behaves again
        summary = copy(source, target, state)
    assert summary.ok, summary.to_json()
    assert inbox(target) == expected(path)


def test_unsolicited_flag_updates_are_not_messages(path: str, target: Dovecot,
                                                   tmp_path: Path) -> None:
    def interleave(answers: Answers) -> Answers:
        noise = [(3, b"* 3 FETCH (UID 3 FLAGS (\\Seen \\Flagged))\r\n"),
                 (1, b"* 1 FETCH (FLAGS (\\Seen))\r\n")]
        return noise + answers[:2] + noise + answers[2:]

    with scripted_source(interleave) as source:
        summary = copy(source, target, tmp_path / "state.db")
    assert summary.ok, summary.to_json()
    assert inbox(target) == expected(path)  # no empty message, nothing twice


def test_a_source_that_answers_uid_ranges_with_nothing_is_still_copied(
        target: Dovecot, tmp_path: Path) -> None:
    """GNU imap4d answers `UID SEARCH UID 1:*` with an empty SEARCH (but `UID SEARCH ALL`
    with every UID): the folder must not look empty."""
    server = scripted_source(lambda answers: answers)

    def search(command: Command) -> None:
        if b"UID" in [a.upper() for a in command.args if isinstance(a, bytes)]:
            command.send(b"* SEARCH\r\n")
            command.ok()
        else:
            command.default()

    server.script("UID SEARCH", search)
    with server:
        summary = copy(server, target, tmp_path / "state.db")
    assert summary.ok and summary.total("copied") == len(MESSAGES), summary.to_json()
    assert inbox(target) == Counter(MESSAGES)


def test_a_search_answer_short_of_the_folder_is_not_taken(target: Dovecot,
                                                          tmp_path: Path) -> None:
    server = scripted_source(lambda answers: answers)

    def short(command: Command) -> None:  # five messages, four UIDs
        command.send(b"* SEARCH 1 2 4 5\r\n")
        command.ok()

    server.script("UID SEARCH", short)
    with server:
        summary = copy(server, target, tmp_path / "state.db")
    (folder,) = summary.folders
    assert folder.status == "failed" and "4 UIDs for a folder of 5" in (folder.error or "")
    assert MESSAGES[2] not in inbox(target)
