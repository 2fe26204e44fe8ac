"""The session over a real socket, against the scripted server: each way of framing an
APPEND (MULTIAPPEND or not, LITERAL+ or synchronising literals) lands the same messages,
read back from the server's own store; a connection cut inside a literal or by BYE is a
ConnectionLost that says so."""

from __future__ import annotations

import threading
import time

import pytest

from mailferry.errors import CommandFailed, ConnectionLost
from mailferry.imap import (
    AppendMessage,
    Credentials,
    ImapSession,
    TlsPolicy,
    expect_capabilities,
    parse_mailbox_url,
)
from mailferry.imap import session as imap_session
from testbed.scripted_imap import Command, ScriptedImap

NAME = 'Caf\u00e9 "quoted" \\ box'
MESSAGES = [
    AppendMessage(b"Subject: one\r\n\r\nsmall\r\n", ("\\Seen",), "02-Feb-2021 10:00:00 +0100"),
    AppendMessage(b"Subject: two\r\n\r\n" + b"x" * 200_000 + b"\r\n", ("\\Flagged", "$Work")),
    AppendMessage(b"Subject: three\r\n\r\n{5}\r\nnot a literal\r\n"),
]


def _session(server: ScriptedImap) -> ImapSession:
    return ImapSession(parse_mailbox_url(server.url()), Credentials("alice", "alice-pw"),
                       TlsPolicy()).connect()


@pytest.mark.parametrize(("capabilities", "appends"), [
    ("IMAP4rev1", 3),  # one at a time, each body after the server's "+"
    ("IMAP4rev1 UIDPLUS MULTIAPPEND", 1),  # one command, a "+" before each body
    ("IMAP4rev1 UIDPLUS LITERAL+", 3),  # pipelined, no waiting
    ("IMAP4rev1 UIDPLUS LITERAL+ MULTIAPPEND", 1),
])
def test_every_append_framing_lands_the_same(capabilities: str, appends: int) -> None:
    with ScriptedImap(capabilities=capabilities) as server:
        session = _session(server)
        wire = NAME.encode()  # not quotable: goes as a literal
        session.create_mailbox(wire, subscribe=True)
        outcome = session.append(wire, MESSAGES)
        session.logout()
        stored = server.folders()[NAME].messages
        assert [(m.raw, m.flags, m.internaldate) for m in stored] == [
            (MESSAGES[0].body, {"\\Seen"}, "02-Feb-2021 10:00:00 +0100"),
            (MESSAGES[1].body, {"\\Flagged", "$Work"}, "01-Jan-2024 10:00:00 +0000"),
            (MESSAGES[2].body, set(), "01-Jan-2024 10:00:00 +0000")]
        uids = [r.uid for r in outcome]
        assert uids == ([1, 2, 3] if "UIDPLUS" in capabilities else [None] * 3)
        assert [name for _, name in server.commands].count("APPEND") == appends


def test_a_connection_cut_inside_a_literal() -> None:
    def cut(command: Command) -> None:
        command.send(b"* 1 FETCH (UID 1 BODY[] {1000}\r\n" + b"a" * 300)
        command.close()

    with ScriptedImap() as server:
        server.folder("INBOX").add(b"Subject: x\r\n\r\nbody\r\n")
        server.script("UID FETCH", cut)
        session = _session(server)
        session.select(b"INBOX", readonly=True)
        with pytest.raises(ConnectionLost) as caught:
            list(session.uid_fetch(b"1", b"(UID BODY.PEEK[])"))
        assert "inside a literal" in str(caught.value)
        assert caught.value.command == "UID FETCH"
        with pytest.raises(ConnectionLost, match="not connected"):
            session.status(b"INBOX")


def test_bye_ends_the_command() -> None:
    def bye(command: Command) -> None:
        command.send(b"* BYE shutting down for maintenance\r\n")
        command.close()

    with ScriptedImap() as server:
        server.script("STATUS", bye)
        session = _session(server)
        with pytest.raises(ConnectionLost, match="shutting down for maintenance") as caught:
            session.status(b"INBOX")
        assert caught.value.command == "STATUS"


def test_pipelined_statuses_are_matched_by_name_in_any_order() -> None:
    """STATUS of many folders goes in one window (issue 16 §2); a server may answer
    pipelined commands in any order, leave names with spaces unquoted (GNU imap4d), refuse
    one: each answer lands on its own folder, a refusal raises once every answer is in, and
    the session stays in step for the next command."""
    held: list[Command] = []

    def out_of_order(command: Command) -> None:
        name = command.args[0]
        if name == b"First":  # answered after the others
            held.append(command)
            return
        if name == b"Refused":
            command.no("no such mailbox")
        elif name == b"Old Mail":
            command.send(b"* STATUS Old Mail (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 5)\r\n")
            command.ok()
        else:
            command.default()
        if name == b"Last" and held:
            held.pop().default()

    with ScriptedImap(capabilities="IMAP4rev1 LITERAL+") as server:
        server.folder("First").add(b"Subject: a\r\n\r\na\r\n")
        server.folder("Last")
        server.folder(NAME).add(b"Subject: b\r\n\r\nb\r\n")
        server.script("STATUS", out_of_order)
        session = _session(server)
        found = session.statuses([b"First", b"Old Mail", NAME.encode(), b"Last"])
        assert found[b"First"]["MESSAGES"] == 1
        assert found[b"Old Mail"] == {"MESSAGES": 2, "UIDNEXT": 3, "UIDVALIDITY": 5}
        assert found[NAME.encode()]["MESSAGES"] == 1  # a literal name: asked on its own
        assert found[b"Last"]["MESSAGES"] == 0
        with pytest.raises(CommandFailed, match="no such mailbox"):
            session.statuses([b"First", b"Refused", b"Last"])
        assert session.status(b"Last")["MESSAGES"] == 0  # still in step
        session.logout()


def test_fetches_sent_together_are_read_whole_in_any_order() -> None:
    """Several UID FETCHes in one write (uid_fetches_sent: a batch's read-back asks its
    sizes and its sample's bodies in one round trip): a server may answer them in any order,
    and refuse one. Every item arrives, told apart by what it carries; a refusal is raised
    once every answer is read, and the session stays in step for the next command."""
    held: list[Command] = []

    def sizes_last(command: Command) -> None:
        if b"RFC822.SIZE" in repr(command.args).encode() and not held:
            held.append(command)  # the sizes: answered after the bodies
            return
        if b"refused" in repr(command.args).encode().lower():
            command.no("no such message set")
        else:
            command.default()
        while held:
            held.pop().default()

    with ScriptedImap(capabilities="IMAP4rev1 UIDPLUS LITERAL+") as server:
        for n in range(3):
            server.folder("INBOX").add(b"Subject: %d\r\n\r\nbody %d\r\n" % (n, n))
        server.script("UID FETCH", sizes_last)
        session = _session(server)
        session.select(b"INBOX", readonly=True)
        items = list(session.uid_fetches_sent([(b"1:3", b"(UID RFC822.SIZE INTERNALDATE)"),
                                               (b"2", b"(UID BODY.PEEK[])")]))
        assert sorted(i.uid for i in items if i.size is not None) == [1, 2, 3]
        assert [i.body for i in items if i.body is not None] == [b"Subject: 1\r\n\r\nbody 1\r\n"]
        assert items[0].body is not None  # the bodies came first
        with pytest.raises(CommandFailed, match="no such message set"):
            list(session.uid_fetches_sent([(b"1:3", b"(UID RFC822.SIZE INTERNALDATE)"),
                                           (b"1", b"(UID FLAGS REFUSED)")]))
        # still in step: nothing of the refused pair's answers is taken for the next one's
        assert [i.uid for i in session.uid_fetch(b"1:3", b"(UID FLAGS)")] == [1, 2, 3]
        session.logout()


def test_a_select_sent_ahead_is_answered_to_its_own_select_only() -> None:
    """`select_ahead` then other commands: each command gets its own answer, the SELECT's
    answers serve the next `select_with_uids` of that mailbox without asking again, and a
    `select_with_uids` of another mailbox (or after a `select`) asks the server."""
    with ScriptedImap() as server:
        for name, count in (("INBOX", 3), ("Work", 5)):
            folder = server.folder(name)
            for n in range(count):
                folder.add(b"Subject: %d\r\n\r\nbody\r\n" % n)
        session = _session(server)

        def examines() -> int:
            return [name for _, name in server.commands].count("EXAMINE")

        session.select_ahead(b"Work", readonly=True)
        listed = {entry.name for entry in session.list_folders()[0]}
        assert listed == {b"INBOX", b"Work"}  # its own answer, not the EXAMINE's
        selected, uids = session.select_with_uids(b"Work", readonly=True)
        assert (selected.exists, uids, examines()) == (5, [1, 2, 3, 4, 5], 1)
        session.select_ahead(b"Work", readonly=True)
        selected, uids = session.select_with_uids(b"INBOX", readonly=True)  # another one
        assert (selected.exists, uids, examines()) == (3, [1, 2, 3], 3)
        session.select_ahead(b"INBOX", readonly=True)
        assert session.select(b"Work", readonly=True).exists == 5
        selected, uids = session.select_with_uids(b"INBOX", readonly=True)  # asked again
        assert (selected.exists, uids, examines()) == (3, [1, 2, 3], 6)
        silent = threading.Event()
        server.script("EXAMINE", lambda command: None if silent.is_set() else command.default())
        silent.set()  # the next EXAMINE is never answered
        session.select_ahead(b"Work", readonly=True)
        leaving = threading.Thread(target=session.logout, daemon=True)
        leaving.start()
        leaving.join(timeout=5)
        assert not leaving.is_alive(), "LOGOUT waited for the answers of a select_ahead"


@pytest.mark.parametrize("then", ["taken", "expunge", "deleted", "another command",
                                  "other arguments"])
def test_flag_changes_sent_ahead_serve_the_next_fetch_of_them_only(then: str) -> None:
    """`select_ahead(changed_flags=...)`: the UID FETCH of the flags changed since a
    mod-sequence goes in the same write as the EXAMINE and its SEARCH. The server here runs
    the FETCH beside the SEARCH (as Dovecot does): its item comes before the SEARCH's tagged
    reply, and its own reply first. The next `uid_fetch` of exactly those flags takes that
    answer without asking; after a message went (EXPUNGE) or is going (\\Deleted: a FETCH
    asked later would not see it), after any other command, or for other arguments, the
    server is asked."""
    held: list[Command] = []
    searches = threading.Semaphore(1)  # the first SEARCH (the one sent ahead) is held

    def search_last(command: Command) -> None:
        if searches.acquire(blocking=False):
            held.append(command)  # answered once the FETCH behind it is
        else:
            command.default()

    def changed(command: Command) -> None:
        if b"CHANGEDSINCE" not in repr(command.args).encode():
            command.default()
            return
        flags = b"\\Deleted" if then == "deleted" else b"\\Flagged"
        command.send(b"* 2 FETCH (UID 2 FLAGS (%s) MODSEQ (12))\r\n" % flags)
        if then == "expunge":
            command.send(b"* 3 EXPUNGE\r\n")
        command.ok()
        while held:
            held.pop().default()

    with ScriptedImap(capabilities="IMAP4rev1 UIDPLUS LITERAL+ CONDSTORE") as server:
        for n in range(3):
            server.folder("Work").add(b"Subject: %d\r\n\r\nbody\r\n" % n)
        server.script("UID SEARCH", search_last)
        server.script("UID FETCH", changed)
        session = _session(server)

        def fetches() -> int:
            return [name for _, name in server.commands].count("UID FETCH")

        session.select_ahead(b"Work", readonly=True, changed_flags=(3, 10))
        selected, uids = session.select_with_uids(b"Work", readonly=True)
        assert (selected.exists, uids, fetches()) == (3, [1, 2, 3], 1)
        since = 11 if then == "other arguments" else 10
        if then == "another command":
            session.list_folders()
        items = [(i.uid, i.flags) for i in session.uid_fetch(b"1:3", b"(UID FLAGS)",
                                                            changedsince=since)]
        asked = 1 if then == "taken" else 2
        assert fetches() == asked, then
        assert items == [(2, ("\\Deleted",) if then == "deleted" else ("\\Flagged",))]
        # taken once: the same FETCH again asks the server
        list(session.uid_fetch(b"1:3", b"(UID FLAGS)", changedsince=since))
        assert fetches() == asked + 1
        session.logout()


def test_a_folder_examined_with_the_login_stands_in_for_its_status() -> None:
    """`expect_capabilities(open_first=...)`: the EXAMINE goes in the login's write, before
    the LIST. While that folder stays selected its EXAMINE's answer is its STATUS (a STATUS
    of the selected mailbox is not asked, nor taken: this server's is stale), its count
    less each EXPUNGE since (an EXISTS may tell of mail a SEARCH did not see: not counted),
    and the next `select_with_uids` of it sends only the UID SEARCH. Any other SELECT ends
    that."""
    capabilities = "IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ UIDPLUS"
    with ScriptedImap(capabilities=capabilities, greeting="Dovecot ready.",
                      says_capabilities=True) as server:
        for name, count in (("INBOX", 3), ("Work", 2)):
            folder = server.folder(name)
            for n in range(count):
                folder.add(b"Subject: %d\r\n\r\nbody\r\n" % n)
        pushed: list[bytes] = []

        def status(command: Command) -> None:  # stale for INBOX; pushes what is queued
            if pushed:
                command.send(pushed.pop(0))
            if command.args[0] == b"INBOX":
                command.send(b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1)\r\n")
                command.ok()
            else:
                command.default()

        def search(command: Command) -> None:
            if pushed:
                command.send(pushed.pop(0))
            command.default()

        server.script("STATUS", status)
        server.script("UID SEARCH", search)
        url = parse_mailbox_url(server.url())
        expect_capabilities(str(url), frozenset(capabilities.split()), open_first=b"INBOX")
        session = _session(server)

        def sent() -> list[str]:
            return [name for _, name in server.commands]

        assert sent() == ["AUTHENTICATE", "EXAMINE", "LIST", "LSUB"]
        assert session.list_folders(at_login=True)[0]  # the LIST sent with the login serves
        found = session.statuses([b"INBOX", b"Work"])
        assert (found[b"INBOX"]["MESSAGES"], found[b"INBOX"]["UIDNEXT"]) == (3, 4)
        assert found[b"Work"]["MESSAGES"] == 2 and sent().count("STATUS") == 1  # Work's
        server.folder("INBOX").add(b"Subject: new\r\n\r\nbody\r\n")
        pushed.append(b"* 4 EXISTS\r\n")  # told with the next answer: Work's STATUS
        session.statuses([b"Work"])
        assert session.statuses([b"INBOX"])[b"INBOX"]["MESSAGES"] == 3
        pushed.append(b"* 1 EXPUNGE\r\n")  # (the server keeps it: only the count is checked)
        selected, uids = session.select_with_uids(b"INBOX", readonly=True)
        assert (selected.exists, uids, sent().count("EXAMINE")) == (2, [1, 2, 3, 4], 1)
        # taken: the next one asks again, and an INBOX STATUS is asked (and stale, here)
        assert session.select_with_uids(b"INBOX", readonly=True)[0].exists == 4
        assert session.statuses([b"INBOX"])[b"INBOX"]["MESSAGES"] == 1
        session.logout()


def test_a_folder_examined_with_the_login_is_dropped_by_another_select() -> None:
    """Whether the other folder is selected alone or with its UIDs in one write (where the
    session sees the SEARCH last), INBOX's STATUS is then asked of the server: mail that
    came after the login's EXAMINE is counted. A refused EXAMINE (a folder deleted since)
    keeps nothing."""
    capabilities = "IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ UIDPLUS"
    with ScriptedImap(capabilities=capabilities, greeting="Dovecot ready.",
                      says_capabilities=True) as server:
        server.folder("Work").add(b"Subject: w\r\n\r\nbody\r\n")
        url = str(parse_mailbox_url(server.url()))
        ways = [(b"Gone", "select"), (b"INBOX", "select"), (b"INBOX", "select_with_uids")]
        for n, (first, way) in enumerate(ways):
            expect_capabilities(url, frozenset(capabilities.split()), open_first=first)
            session = _session(server)
            server.folder("INBOX").add(b"Subject: %d\r\n\r\nbody\r\n" % n)  # after it
            if way == "select":
                session.select(b"Work", readonly=False)
            else:
                session.select_with_uids(b"Work", readonly=True)
            assert session.statuses([b"INBOX"])[b"INBOX"]["MESSAGES"] == n + 1
            session.select_ahead(b"INBOX", readonly=True)  # an EXAMINE again, not a SEARCH alone
            assert len(session.select_with_uids(b"INBOX", readonly=True)[1]) == n + 1
            session.logout()
        examined = [name for _, name in server.commands].count("EXAMINE")
        assert examined == 3 + 1 + 3  # each login's, Work's with its UIDs, each select_ahead's


@pytest.mark.parametrize("way", ["select", "select_with_uids"])
def test_a_folder_selected_with_the_login_is_taken_only_while_nothing_changed(
        way: str) -> None:
    """`writable=True` (the target's): a SELECT goes in the login's write; the copy's
    SELECT of that folder is then a NOOP (its UID SEARCH in the same write), taken only if
    that NOOP tells of no mail come (EXISTS) or gone (EXPUNGE): else it is SELECTed again
    and the answer is the folder as it is. A read-only opening of it is not served by it."""
    capabilities = "IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ UIDPLUS"
    with ScriptedImap(capabilities=capabilities, greeting="Dovecot ready.",
                      says_capabilities=True) as server:
        inbox = server.folder("INBOX")
        for n in range(3):
            inbox.add(b"Subject: %d\r\n\r\nbody\r\n" % n)
        told: list[bytes] = []

        def noop(command: Command) -> None:
            if told:
                command.send(told.pop(0))
            command.ok()

        server.script("NOOP", noop)
        url = str(parse_mailbox_url(server.url()))

        def sent() -> list[str]:
            return [name for _, name in server.commands]

        def since_login() -> list[str]:  # (the last session's LOGOUT may be seen late)
            names = sent()
            return names[len(names) - 1 - names[::-1].index("AUTHENTICATE"):]

        def open_inbox(session: ImapSession) -> int:
            if way == "select":
                return session.select(b"INBOX", readonly=False).exists
            selected, uids = session.select_with_uids(b"INBOX", readonly=False)
            assert len(uids) == selected.exists
            return selected.exists

        for change in (b"", b"* 4 EXISTS\r\n", b"* 1 EXPUNGE\r\n"):
            expect_capabilities(url, frozenset(capabilities.split()), open_first=b"INBOX",
                                writable=True)
            session = _session(server)
            assert since_login()[:2] == ["AUTHENTICATE", "SELECT"]
            if change == b"* 4 EXISTS\r\n":
                inbox.add(b"Subject: new\r\n\r\nbody\r\n")
            elif change:
                inbox.messages.pop(0)
            if change:
                told.append(change)
            exists = open_inbox(session)
            assert exists == len(inbox.messages), change
            assert since_login().count("NOOP") == 1
            assert since_login().count("SELECT") == (2 if change else 1), change
            session.logout()
        expect_capabilities(url, frozenset(capabilities.split()), open_first=b"INBOX",
                            writable=True)
        session = _session(server)
        session.select(b"INBOX", readonly=True)  # wanted read-only: EXAMINEd, no NOOP
        assert since_login()[-1] == "EXAMINE" and "NOOP" not in since_login()
        session.logout()


@pytest.mark.parametrize("lag", [0.0, 1.0])
def test_on_slow_open_is_called_while_the_login_examine_is_slow_to_answer(
        lag: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """`expect_capabilities(on_slow_open=...)`: called once, while the answer to the
    EXAMINE sent with the login has not come SLOW_OPEN after the login's (Dovecot reading a
    changed folder again); not when it follows the login's at once, nor for a login that
    EXAMINEs nothing. Either way the answer then serves as the folder's STATUS."""
    monkeypatch.setattr(imap_session, "SLOW_OPEN", 0.3)  # (room for a slow machine)
    capabilities = "IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ UIDPLUS"
    with ScriptedImap(capabilities=capabilities, greeting="Dovecot ready.",
                      says_capabilities=True) as server:
        server.folder("INBOX").add(b"Subject: a\r\n\r\nbody\r\n")
        answered = threading.Event()

        def examine(command: Command) -> None:
            answered.clear()
            time.sleep(lag)
            answered.set()
            command.default()

        server.script("EXAMINE", examine)
        url = str(parse_mailbox_url(server.url()))
        calls: list[bool] = []  # whether the answer had been sent by then
        for _ in range(2):
            expect_capabilities(url, frozenset(capabilities.split()), open_first=b"INBOX",
                                on_slow_open=lambda: calls.append(answered.is_set()))
            session = _session(server)
            assert session.statuses([b"INBOX"])[b"INBOX"]["MESSAGES"] == 1
            session.logout()
            expect_capabilities(url, frozenset(capabilities.split()),
                                on_slow_open=lambda: calls.append(answered.is_set()))
            _session(server).logout()  # nothing EXAMINEd with this login
        assert [name for _, name in server.commands].count("STATUS") == 0
    assert calls == ([False, False] if lag else [])
