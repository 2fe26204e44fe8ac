"""What a read-back learns of a target folder is kept in the state: a sample of ordinary
messages that came back as sent, a raw 8-bit header kept. Later runs into that folder read
back only what looks off (a changed size, a NUL byte), instead of paying the sample again:
on Dovecot the first body read of new mail rescans the Maildir, 0.17 s of a 10-message
delta into 100,000 messages (bench/huge_folder_bench.py). What is learned is forgotten
when the server is caught rewriting an ordinary message and when the target folder is
another (its UIDVALIDITY changed), so the next run samples again. Each run's reads are
counted at the target, and what it holds is compared with the source."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed.scripted_imap import Command, ScriptedFolder, ScriptedImap


def _message(n: int, *, subject: bytes = b"plain", body: bytes = b"hello") -> bytes:
    return (b"From: a@x\r\nTo: b@x\r\nSubject: %s\r\nMessage-ID: <%d@x>\r\n\r\n%s %d\r\n"
            % (subject, n, body, n))


EIGHT_BIT = "Gr\u00fc\u00dfe".encode()


class _BodyReads:
    """A target that counts the messages whose bodies are fetched, and can be told to inject
    a header into what it stores (a scanner turned on between two runs)."""

    def __init__(self) -> None:
        self.server = ScriptedImap()
        self.read: list[int] = []
        self.inject = False
        self.server.script("UID FETCH", self._fetch)
        self.server.script("APPEND", self._append)

    def _fetch(self, command: Command) -> None:
        items = command.args[1]
        names = [i.upper() for i in (items if isinstance(items, list) else [items])
                 if isinstance(i, bytes)]
        if any(name.startswith(b"BODY.PEEK[]") for name in names):
            self.read += [uid for uid, _ in command.fetch_answers()]
        command.default()

    def _append(self, command: Command) -> None:
        folder = self.server.folders().get("INBOX")
        before = len(folder.messages) if folder else 0
        command.default()
        for message in (folder.messages[before:] if folder and self.inject else []):
            message.raw = b"X-Scanned: clean\r\n" + message.raw

    def reads(self) -> int:
        taken, self.read = len(self.read), []
        return taken


def _account(server: ScriptedImap) -> Account:
    return Account(parse_mailbox_url(server.url()), Credentials("alice", "alice-pw"), TlsPolicy())


def _copy(source: ScriptedImap, target: ScriptedImap, state: Path) -> CopySummary:
    store = StateStore.open(state)
    try:
        return MailboxCopy(imap_source(_account(source)), _account(target), store,
                           CopyOptions(retries=2, backoff=0.01)).run()
    finally:
        store.close()


def _held(server: ScriptedImap) -> list[bytes]:
    return sorted(re.sub(rb"^X-Scanned: clean\r\n", b"", m.raw)
                  for m in server.folder("INBOX").messages)


def test_a_later_run_reads_back_only_what_looks_off(tmp_path: Path) -> None:
    source, target = ScriptedImap(), _BodyReads()
    inbox = source.folder("INBOX")
    for n in range(6):
        inbox.add(_message(n))
    inbox.add(_message(6, subject=EIGHT_BIT))
    state = tmp_path / "state.db"
    with source, target.server:
        first = _copy(source, target.server, state)
        assert first.total("copied") == 7 and not first.failures
        assert target.reads() >= 2  # the sample, and the 8-bit header until one was kept
        for n in range(7, 10):
            inbox.add(_message(n))
        inbox.add(_message(10, subject=EIGHT_BIT))
        second = _copy(source, target.server, state)
        assert second.total("copied") == 4 and not second.failures
        assert target.reads() == 0, "a later run paid the sample again"
        inbox.add(_message(11, body=b"nul\x00byte"))  # a rewrite that keeps the size
        inbox.add(_message(12))
        third = _copy(source, target.server, state)
        assert third.total("copied") == 2
        assert target.reads() == 1, "a message whose rewrite keeps its size was not read back"
        assert _held(target.server) == _held(source)


@pytest.fixture
def copied(tmp_path: Path) -> Iterator[tuple[ScriptedImap, _BodyReads, Path]]:
    """Three ordinary messages copied once (the read-back sampled them), both servers up."""
    source, target = ScriptedImap(), _BodyReads()
    for n in range(3):
        source.folder("INBOX").add(_message(n))
    state = tmp_path / "state.db"
    with source, target.server:
        _copy(source, target.server, state)
        assert target.reads() >= 1
        yield source, target, state


def test_a_target_caught_rewriting_is_sampled_again(
        copied: tuple[ScriptedImap, _BodyReads, Path]) -> None:
    source, target, state = copied
    inbox = source.folder("INBOX")
    target.inject = True  # the size changes: read back, reported, and the rest read too
    inbox.add(_message(3))
    inbox.add(_message(4))
    caught = _copy(source, target.server, state)
    assert sorted(f.message_id for f in caught.failures) == ["<3@x>", "<4@x>"]
    assert all(f.kind == "altered" for f in caught.failures)
    assert target.reads() == 2
    target.inject = False
    inbox.add(_message(5))
    _copy(source, target.server, state)
    assert target.reads() == 1, "what was learned outlived the server caught rewriting"
    assert _held(target.server) == _held(source)


def test_a_target_folder_made_anew_is_sampled_again(
        copied: tuple[ScriptedImap, _BodyReads, Path]) -> None:
    source, target, state = copied
    # the target folder deleted and created again: another UIDVALIDITY, empty
    target.server.folders()["INBOX"] = ScriptedFolder("INBOX", uidvalidity=77)
    again = _copy(source, target.server, state)
    assert again.total("copied") == 3
    assert target.reads() >= 1, "what was learned of the old folder was taken for the new"
    assert _held(target.server) == _held(source)
