"""Quirks of IMAP servers other than Dovecot (issue 20), reproduced by the scripted server so
the regular suite covers them without the chroots of tests/interop: a target without
UIDPLUS that loses APPENDs into its selected mailbox (GNU imap4d), targets that rewrite what
they store (mbox bookkeeping fields, 8-bit bytes, re-folded headers). Each is checked on
what the target holds afterwards, and again after re-runs with the same and a fresh state."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed.messages import make_message
from testbed.scripted_imap import Command, ScriptedFolder, ScriptedImap, dies_on_append_of

FOLDERS = {"INBOX": 9, "Work": 6}


def _account(server: ScriptedImap) -> Account:
    return Account(parse_mailbox_url(server.url()), Credentials("alice", "alice-pw"), TlsPolicy())


def scripted_source() -> ScriptedImap:
    server = ScriptedImap()
    rng = random.Random(20)
    n = 0
    for name, count in FOLDERS.items():
        folder = server.folder(name)
        for _ in range(count):
            n += 1
            folder.add(make_message(rng, n, size=600), {"\\Seen"} if n % 2 else set())
    return server


def copy(source: ScriptedImap, target: ScriptedImap, state: Path, **options: float,
         ) -> CopySummary:
    store = StateStore.open(state)
    try:
        settings = {"retries": 4, "backoff": 0.01, "batch_messages": 4, **options}
        return MailboxCopy(imap_source(_account(source)), _account(target), store,
                           CopyOptions(**settings)).run()
    finally:
        store.close()


def held(server: ScriptedImap, clean: Callable[[bytes], bytes] = lambda raw: raw,
         ) -> dict[str, list[bytes]]:
    return {name: sorted(clean(m.raw) for m in folder.messages)
            for name, folder in server.folders().items()}


# -- GNU imap4d as a target ----------------------------------------------------------------

_BOOKKEEPING = re.compile(rb"^(?:X-UID|Status|X-IMAPbase): .*\r\n", re.M)


def without_bookkeeping(raw: bytes) -> bytes:
    return _BOOKKEEPING.sub(b"", raw)


def imap4d_like() -> ScriptedImap:
    """No UIDPLUS, no MULTIAPPEND; an APPEND into the mailbox this session selected is
    answered OK but kept only if it is the first since the SELECT; every stored message
    gets imap4d's bookkeeping fields at the end of its header."""
    server = ScriptedImap(capabilities="IMAP4rev1 LITERAL+ UNSELECT IDLE")
    appended_since_select: set[int] = set()

    def select(command: Command) -> None:
        appended_since_select.discard(id(command.conn))
        command.default()

    def append(command: Command) -> None:
        name = command.args[0]
        folder = server.folders().get(name.decode() if isinstance(name, bytes) else "")
        if folder is None:
            command.default()
            return
        if command.conn.selected is folder and id(command.conn) in appended_since_select:
            command.ok("APPEND Completed")  # and the message is gone
            return
        before = len(folder.messages)
        command.default()
        for message in folder.messages[before:]:
            head, sep, body = message.raw.partition(b"\r\n\r\n")
            message.raw = (head + b"\r\nStatus: O\r\nX-UID: %d\r\n" % message.uid).rstrip(
                b"\r\n") + sep + body
        if command.conn.selected is folder:
            appended_since_select.add(id(command.conn))

    server.script("SELECT", select)
    server.script("APPEND", append)
    return server


def test_a_target_without_uidplus_keeps_every_message_and_reruns_add_nothing(
        tmp_path: Path) -> None:
    """Issue 20 point 3: before, "copied 15" with one message per folder kept, exit 0."""
    source, target = scripted_source(), imap4d_like()
    with source, target:
        summary = copy(source, target, tmp_path / "state.db")
        assert held(target, without_bookkeeping) == held(source)
        assert summary.total("copied") == sum(FOLDERS.values())
        # every message is reported as changed, by class, naming the fields imap4d added
        assert [f.kind for f in summary.failures] == ["altered"] * sum(FOLDERS.values())
        assert all("[headers]" in f.reason and "status, x-uid" in f.reason
                   for f in summary.failures), summary.failures
        copy(source, target, tmp_path / "state.db")
        assert held(target, without_bookkeeping) == held(source)  # same state: nothing new
        again = copy(source, target, tmp_path / "fresh.db")
        assert held(target, without_bookkeeping) == held(source)  # fresh state: nothing new
        assert again.total("present") == sum(FOLDERS.values())
        assert again.total("present_rewritten") == sum(FOLDERS.values())


def test_a_message_the_target_loses_is_reported_not_counted(tmp_path: Path) -> None:
    """Without UIDPLUS an APPEND answered OK is looked for, not trusted: a target that
    drops every second message gets them reported as failures."""
    source, target = scripted_source(), imap4d_like()
    dropped: list[int] = []

    def lossy(command: Command) -> None:
        dropped.append(1)
        if len(dropped) % 2 == 0:
            command.ok("APPEND Completed")
            return
        command.default()

    target.script("APPEND", lossy)
    with source, target:
        summary = copy(source, target, tmp_path / "state.db")
        kept = sum(len(f.messages) for f in target.folders().values())
    assert not summary.ok
    assert summary.total("copied") == kept
    assert len([f for f in summary.failures if f.kind == "rejected"]) == \
        sum(FOLDERS.values()) - kept > 0
    assert all("does not hold the message" in f.reason for f in summary.failures)


# -- targets that rewrite what they store (issue 20 points 4 and 5) ---------------------------

PLAIN = b"From: a@x\r\nTo: b@x\r\nSubject: plain\r\nMessage-ID: <plain@x>\r\n\r\nhello\r\n"
EIGHT_BIT = (b"From: J\xc3\xbcrgen <j@x>\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\nMessage-ID: <8@x>\r\n"
             b"\r\nhallo\r\n")
NO_FINAL_NEWLINE = b"From: a@x\r\nSubject: cut\r\nMessage-ID: <cut@x>\r\n\r\nno end"
FUTURE = "14-Mar-2043 15:09:26 +0000"
LONG = (b"From: a@x\r\nSubject: a subject long enough to be folded by a server that re-folds"
        b" headers at sixty columns\r\nMessage-ID: <long@x>\r\n\r\ntext\r\n")


def rewriting_target() -> ScriptedImap:
    """What Cyrus, Courier, pymap and Dovecot do, one each: 8-bit header bytes become 'X', a
    final CRLF is added, long header lines are re-folded, a future date becomes the default."""
    server = ScriptedImap()

    def append(command: Command) -> None:
        name = command.args[0]
        folder = server.folders().get(name.decode() if isinstance(name, bytes) else "")
        before = len(folder.messages) if folder else 0
        command.default()
        for message in folder.messages[before:] if folder else []:
            head, sep, body = message.raw.partition(b"\r\n\r\n")
            head = re.sub(rb"[\x80-\xff]", b"X", head)
            head = head.replace(b" by a server", b"\r\n by a server")
            body = body if body.endswith(b"\r\n") else body + b"\r\n"
            message.raw = head + sep + body
            if message.internaldate.endswith("2043 15:09:26 +0000"):
                message.internaldate = "30-Nov-2026 12:00:00 +0000"

    server.script("APPEND", append)
    return server


def test_every_rewrite_is_reported_by_class_and_reruns_see_through_it(tmp_path: Path) -> None:
    """Before: only NUL or bare CR/LF messages were read back; these four arrived changed and
    the copy said nothing; a re-run with a fresh state copied the rewritten ones again."""
    source, target = ScriptedImap(), rewriting_target()
    inbox = source.folder("INBOX")
    for raw in (PLAIN, EIGHT_BIT, NO_FINAL_NEWLINE, LONG):
        inbox.add(raw)
    inbox.add(PLAIN.replace(b"<plain@x>", b"<future@x>"), internaldate=FUTURE)
    with source, target:
        summary = copy(source, target, tmp_path / "state.db")
        reported = {(f.message_id, f.kind): f.reason for f in summary.failures}
        assert set(reported) == {("<8@x>", "altered"), ("<cut@x>", "normalised"),
                                 ("<long@x>", "altered"), ("<future@x>", "date-changed")}
        assert reported[("<8@x>", "altered")].endswith("[eight_bit]")
        assert reported[("<cut@x>", "normalised")].endswith("[final_newline]")
        assert reported[("<long@x>", "altered")].endswith("[headers]")
        assert "30-Nov-2026" in reported[("<future@x>", "date-changed")]
        assert len(target.folder("INBOX").messages) == 5
        copy(source, target, tmp_path / "state.db")
        again = copy(source, target, tmp_path / "fresh.db")
        assert len(target.folder("INBOX").messages) == 5  # no duplicate either time
        assert again.total("present") == 5 and again.total("present_rewritten") == 2


def test_a_target_that_refuses_bare_newlines_gets_crlf_and_the_message_is_reported(
        tmp_path: Path) -> None:
    """Issue 20 point 7: Cyrus refuses bare LF ("Message contains bare newlines"); before,
    every message of an LF source (pymap) was rejected."""
    source, target = ScriptedImap(), ScriptedImap()
    lf = PLAIN.replace(b"\r\n", b"\n")
    source.folder("INBOX").add(lf)
    source.folder("INBOX").add(PLAIN.replace(b"<plain@x>", b"<crlf@x>"))
    nul = PLAIN.replace(b"<plain@x>", b"<nul@x>").replace(b"hello", b"he\0llo").replace(
        b"\r\n", b"\n")
    source.folder("INBOX").add(nul)

    def cyrus_append(command: Command) -> None:
        for token in command.args:
            if isinstance(token, bytes) and re.search(rb"(?<!\r)\n", token) and len(token) > 40:
                command.no("Message contains bare newlines")
                return
            if isinstance(token, bytes) and b"\0" in token:
                command.no("Message contains NUL characters")
                return
        command.default()

    target.script("APPEND", cyrus_append)
    with source, target:
        summary = copy(source, target, tmp_path / "state.db")
    assert sorted(m.raw for m in target.folder("INBOX").messages) == sorted(
        [PLAIN, PLAIN.replace(b"<plain@x>", b"<crlf@x>")])
    kinds = {f.message_id: (f.kind, f.reason) for f in summary.failures}
    assert kinds["<plain@x>"][0] == "normalised" and "bare newlines" in kinds["<plain@x>"][1]
    assert kinds["<nul@x>"][0] == "rejected"
    assert kinds["<nul@x>"][1].startswith("Message contains NUL characters (with CRLF")
    assert "<crlf@x>" not in kinds


def test_keywords_a_target_refuses_are_counted_once_across_retries(tmp_path: Path) -> None:
    """Issue 20 point 8: a batch cut short by a dropped connection counted its dropped
    keywords again on every retry (359 reported for 100 dropped)."""
    source, target = ScriptedImap(), ScriptedImap()
    for n in range(6):
        source.folder("INBOX").add(PLAIN.replace(b"<plain@x>", b"<k%d@x>" % n),
                                   {"$Label1", "Work", "\\Seen"})
    appends: list[int] = []

    def no_keywords(command: Command) -> None:
        folder = server_folder(target, command)
        command.conn.selected = folder
        command.send(b"* %d EXISTS\r\n" % len(folder.messages),
                     b"* OK [PERMANENTFLAGS (\\Seen \\Deleted \\*X)] no keywords\r\n",
                     b"* OK [UIDVALIDITY 1] ok\r\n* OK [UIDNEXT %d] ok\r\n" % folder.uidnext)
        command.ok("[READ-WRITE] selected")

    def crash_once(command: Command) -> None:
        appends.append(1)
        if len(appends) == 1:
            command.close()
            return
        command.default()

    target.script("SELECT", no_keywords)
    target.script("APPEND", crash_once)
    with source, target:
        summary = copy(source, target, tmp_path / "state.db")
    assert len(target.folder("INBOX").messages) == 6, summary.to_json()
    assert summary.keywords_dropped == {"$Label1": 6, "Work": 6}


def server_folder(server: ScriptedImap, command: Command) -> ScriptedFolder:
    name = command.args[0]
    return server.folder(name.decode() if isinstance(name, bytes) else "INBOX")


def test_a_message_the_target_dies_on_fails_alone(tmp_path: Path) -> None:
    """Issue 20 point 6: pymap drops the connection (`* BYE [SERVERBUG]`) in the middle of
    a MULTIAPPEND, keeping the messages before the one it died on. Before: every retry died
    on it again, the folder failed after 7 attempts with nothing after it copied, and each
    retry appended again what came before it."""
    source, target = ScriptedImap(), ScriptedImap()
    for n in range(8):
        body = b"POISON\r\n" if n == 3 else b"fine\r\n"
        source.folder("INBOX").add(PLAIN.replace(b"<plain@x>", b"<p%d@x>" % n).replace(
            b"hello\r\n", body))

    target.script("APPEND", dies_on_append_of(b"POISON"))
    with source, target:
        summary = copy(source, target, tmp_path / "state.db")
        kept = sorted(m.raw for m in target.folder("INBOX").messages)
        assert kept == sorted(m.raw for m in source.folder("INBOX").messages
                              if b"POISON" not in m.raw)
        (failure,) = summary.failures
        assert failure.message_id == "<p3@x>" and failure.kind == "rejected"
        assert "SERVERBUG" in failure.reason
        copy(source, target, tmp_path / "state.db")
        copy(source, target, tmp_path / "fresh.db")
        assert sorted(m.raw for m in target.folder("INBOX").messages) == kept


def test_a_rewritten_copy_is_found_when_the_source_header_ends_early(tmp_path: Path) -> None:
    """A message starting with a blank line has an empty BODY[HEADER] on the source, so the
    header pass cannot pair it with the copy pymap stored without that line; the body can.
    Before: a re-run with a fresh state copied it again."""
    source, target = ScriptedImap(), ScriptedImap()
    odd = b"\r\n\r\nSubject: obsolete syntax\r\nDate: x\r\n\r\nbody\r\n"
    source.folder("INBOX").add(odd)
    source.folder("INBOX").add(PLAIN)
    target.folder("INBOX").add(odd.lstrip(b"\r\n"))  # what pymap stores
    target.folder("INBOX").add(PLAIN)
    with source, target:
        summary = copy(source, target, tmp_path / "fresh.db")
    assert len(target.folder("INBOX").messages) == 2, summary.to_json()
    assert summary.total("present_rewritten") == 1


# -- failures while a batch is in flight (engine/appender.py sends each batch's MULTIAPPEND
# behind the read-back of the batch before: tests/copy/test_copy_append_behind.py) -----------

def _message(n: int, body: bytes = b"fine") -> bytes:
    return (b"From: a@x\r\nTo: b@x\r\nSubject: m%d\r\nMessage-ID: <m%d@x>\r\n\r\n%s\r\n"
            % (n, n, body))


def test_a_batch_refused_in_flight_is_retried_message_by_message(tmp_path: Path) -> None:
    """The second of three batches is refused as a whole (one message in it is refused
    alone too) while the first is read back: the others of that batch arrive, in order, the
    refused one is reported with the server's words, and nothing is appended twice."""
    source, target = ScriptedImap(), ScriptedImap()
    for n in range(12):
        source.folder("INBOX").add(_message(n, b"REFUSED" if n == 6 else b"fine"))
    appends: list[int] = []  # messages in each APPEND, in order

    def refuse(command: Command) -> None:
        appends.append(len(command.literals))
        if any(b"REFUSED" in body for body in command.literals):
            command.no("[LIMIT] this one is not welcome")
        else:
            command.default()

    target.script("APPEND", refuse)
    with source, target:
        summary = copy(source, target, tmp_path / "s.db")
        (failure,) = summary.failures
        assert failure.message_id == "<m6@x>" and "not welcome" in failure.reason
        wanted = [m.raw for m in source.folder("INBOX").messages if b"REFUSED" not in m.raw]
        assert [m.raw for m in target.folder("INBOX").messages] == wanted
        # three MULTIAPPENDs, the refused one again message by message
        assert appends == [4, 4, 1, 1, 1, 1, 4], appends
        del appends[:]
        copy(source, target, tmp_path / "s.db")
        copy(source, target, tmp_path / "fresh.db")
        assert [m.raw for m in target.folder("INBOX").messages] == wanted
        assert appends == [1, 1], appends  # the refused one, once per run


def test_a_message_the_target_dies_on_in_a_later_batch_fails_alone(tmp_path: Path) -> None:
    """The target drops the connection on a message of the second batch, sent while the
    first one was read back: the batch then goes one message at a time, the message is
    reported once it killed the connection twice, everything else arrives once."""
    source, target = ScriptedImap(), ScriptedImap()
    for n in range(12):
        source.folder("INBOX").add(_message(n, b"POISON" if n == 6 else b"fine"))
    target.script("APPEND", dies_on_append_of(b"POISON"))
    with source, target:
        summary = copy(source, target, tmp_path / "s.db")
        (failure,) = summary.failures
        assert failure.message_id == "<m6@x>" and "SERVERBUG" in failure.reason
        kept = sorted(m.raw for m in target.folder("INBOX").messages)
        assert kept == sorted(m.raw for m in source.folder("INBOX").messages
                              if b"POISON" not in m.raw)
        copy(source, target, tmp_path / "s.db")
        copy(source, target, tmp_path / "fresh.db")
        assert sorted(m.raw for m in target.folder("INBOX").messages) == kept


def test_only_the_messages_in_flight_when_the_target_died_go_alone(tmp_path: Path) -> None:
    """The target dies on a message of the second of six batches: the messages of the
    batches then in flight go one at a time until the one it dies on is known; the batches
    after them go whole again (every message after a lost connection used to go alone: a
    blip into a folder of 100,000 left the rest a round trip each)."""
    source, target = ScriptedImap(), ScriptedImap()
    for n in range(24):
        source.folder("INBOX").add(_message(n, b"POISON" if n == 5 else b"fine"))
    appends: list[int] = []  # messages in each APPEND that was not refused, in order
    dies = dies_on_append_of(b"POISON")

    def append(command: Command) -> None:
        appends.append(len(command.literals))
        dies(command)

    target.script("APPEND", append)
    with source, target:
        summary = copy(source, target, tmp_path / "s.db")
        (failure,) = summary.failures
        assert failure.message_id == "<m5@x>" and "SERVERBUG" in failure.reason
        assert [m.raw for m in target.folder("INBOX").messages] == [
            m.raw for m in source.folder("INBOX").messages if b"POISON" not in m.raw]
    assert min(appends[-4:]) > 1, appends  # the last batches, whole
    assert appends.count(1) <= 12, appends  # batch 2 (and 3, sent behind it), twice at most


def test_an_append_answered_before_the_fetch_sent_ahead_of_it_is_kept(tmp_path: Path) -> None:
    """RFC 3501 lets a server answer pipelined commands in any order where that is safe: the
    APPEND behind a read-back FETCH may be answered first. Its answer must be kept for the
    APPEND, not dropped while the FETCH's answer is awaited (the copy then waited for an
    answer that had come)."""
    source, target = ScriptedImap(), ScriptedImap()
    for n in range(12):
        source.folder("INBOX").add(_message(n))
    deferred: list[Command] = []
    read_backs = 0

    def fetch(command: Command) -> None:
        nonlocal read_backs
        if "RFC822.SIZE" in repr(command.args):
            read_backs += 1
            if read_backs < 3:  # an APPEND follows the first two: answer it first
                deferred.append(command)
                return
        command.default()

    def append(command: Command) -> None:
        command.default()
        while deferred:
            deferred.pop().default()

    target.script("UID FETCH", fetch)
    target.script("APPEND", append)
    with source, target:
        summary = copy(source, target, tmp_path / "s.db", retries=0, read_timeout=10,
                       command_timeout=10)
        assert summary.ok, summary.to_json()
        assert read_backs == 3
        assert ([m.raw for m in target.folder("INBOX").messages]
                == [m.raw for m in source.folder("INBOX").messages])
