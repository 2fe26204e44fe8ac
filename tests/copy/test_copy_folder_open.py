"""Each source folder is opened in one round trip: EXAMINE and UID SEARCH ALL in one write (a
source 50 ms away paid two per folder, with small folders queued behind each other on a few
connections); so is each target folder where its every UID will be needed (no finished run
recorded), and only there; and both sides' folders open at the same time. A folder the
source refuses to open fails alone, with the server's words, and the connection goes on
with the next folder."""

from __future__ import annotations

import re
from pathlib import Path

from mailferry.engine import CopyOptions, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot, FaultProxy
from testbed.basekit import put, put_in_folders
from testbed.copykit import mailbox, run_cli
from testbed.messages import sample_mailbox
from testbed.proxy import Tally, Turns
from testbed.scripted_imap import Command, ScriptedImap

NAMES = ["Archive", "Archive/2019", "Work", "Lists", "Caf&AOk-"]


def _seed(source: Dovecot) -> None:
    put_in_folders(source, ["INBOX", *NAMES], 30)


def test_each_source_folder_opens_in_one_turn(source: Dovecot, target: Dovecot,
                                              tmp_path: Path) -> None:
    _seed(source)
    turns = Turns()
    with FaultProxy(source.host, source.port, on_up=turns.up, on_down=turns.down) as proxy:
        done = run_cli(["copy", f"imap://alice@127.0.0.1:{proxy.port}", target.url(),
                        "--state", str(tmp_path / "s.db"), "--workers", "1"],
                       source=source, target=target)
    assert done.returncode == 0, done.stderr
    opened = [said for said in turns.said if b" EXAMINE " in said]
    assert len(opened) >= len(NAMES) + 1, [said[:120] for said in turns.said]
    assert all(b" UID SEARCH " in said for said in opened), [said[:120] for said in opened]
    assert turns.with_verb(b"UID SEARCH") == len(opened)  # never a turn of its own
    assert mailbox(target) == mailbox(source)


def test_a_target_folder_opens_with_its_uids_only_when_they_are_needed(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    _seed(source)
    turns = Turns()
    args = ["copy", source.url(), "--state", str(tmp_path / "s.db"), "--workers", "1"]
    with FaultProxy(target.host, target.port, on_up=turns.up, on_down=turns.down) as proxy:
        args.insert(2, f"imap://alice@127.0.0.1:{proxy.port}")
        first = run_cli(args, source=source, target=target)
        assert first.returncode == 0, first.stderr
        opened = [said for said in turns.said if b" SELECT " in said]
        assert len(opened) >= len(NAMES) + 1, [said[:120] for said in turns.said]
        # the whole-folder path reads every target UID: asked with the SELECT
        assert all(b" UID SEARCH " in said for said in opened), [s[:120] for s in opened]
        assert turns.with_verb(b"UID SEARCH") == len(opened)
        put(source, sample_mailbox(2, ["INBOX"], seed=99))
        proxy.wait_closed()  # the first run's last bytes are not counted as the re-run's
        turns.reset()
        again = run_cli(args, source=source, target=target)
        assert again.returncode == 0, again.stderr
    # the delta needs no target UID: none asked
    assert turns.with_verb(b"SELECT") == 1 and turns.with_verb(b"UID SEARCH") == 0, [
        said[:120] for said in turns.said]
    assert mailbox(target) == mailbox(source)


class _ExamineHeld:
    """Holds the source's answer to each EXAMINE until the target has been asked to SELECT
    as many folders, or for 5 s (then `late`): a client that opens the target folder only
    once the source's is open makes every answer late."""

    def __init__(self) -> None:
        self.selects = Tally()
        self.examined = 0
        self.late: list[int] = []

    def target_up(self, data: bytes) -> None:
        self.selects.add(len(re.findall(rb"(?:^|\n)\S+ SELECT ", data)))

    def source_down(self, data: bytes) -> None:
        for _ in re.findall(rb"(?:^|\n)\S+ OK \[READ-ONLY\] ", data):
            self.examined += 1
            if not self.selects.reached(self.examined):
                self.late.append(self.examined)


def test_each_folder_opens_on_both_sides_at_once(source: Dovecot, target: Dovecot,
                                                 tmp_path: Path) -> None:
    _seed(source)
    held = _ExamineHeld()
    with FaultProxy(source.host, source.port, on_down=held.source_down) as far_source, \
            FaultProxy(target.host, target.port, on_up=held.target_up) as far_target:
        done = run_cli(["copy", f"imap://alice@127.0.0.1:{far_source.port}",
                        f"imap://alice@127.0.0.1:{far_target.port}",
                        "--state", str(tmp_path / "s.db"), "--workers", "1"],
                       source=source, target=target)
    assert done.returncode == 0, done.stderr
    assert held.examined >= len(NAMES) + 1 and held.late == [], (held.examined, held.late)
    assert mailbox(target) == mailbox(source)


def test_a_folder_the_source_refuses_to_open_fails_alone(target: Dovecot,
                                                          tmp_path: Path) -> None:
    source = ScriptedImap()
    for name in ("INBOX", "Broken", "Work"):
        for n in range(3):
            source.folder(name).add(b"From: a@x\r\nSubject: %s %d\r\nMessage-ID: <%s%d@x>\r\n"
                                    b"\r\nhello\r\n" % (name.encode(), n, name.encode(), n))
    searched_unselected: list[bytes] = []

    def examine(command: Command) -> None:
        if command.args[0] == b"Broken":
            command.conn.selected = None  # RFC 3501 6.3.1: a failed EXAMINE deselects
            command.no("[SERVERBUG] cannot open this folder")
        else:
            command.default()

    def search(command: Command) -> None:
        if command.conn.selected is None:
            searched_unselected.append(command.tag)
            command.send(command.tag + b" BAD No mailbox selected\r\n")
        else:
            command.default()

    source.script("EXAMINE", examine)
    source.script("UID SEARCH", search)
    store = StateStore.open(tmp_path / "s.db")
    try:
        with source:
            summary = MailboxCopy(
                imap_source(Account(parse_mailbox_url(source.url()),
                                    Credentials("alice", "alice-pw"), TlsPolicy())),
                Account(parse_mailbox_url(target.url()), Credentials("alice", target.password()),
                        TlsPolicy()),
                store, CopyOptions(workers=1, retries=1, backoff=0.01)).run()
    finally:
        store.close()
    by_folder = {f.source: f for f in summary.folders}
    assert by_folder["Broken"].status == "failed"
    assert "cannot open this folder" in (by_folder["Broken"].error or "")
    assert searched_unselected  # the SEARCH sent behind it was answered, and dropped
    held = mailbox(target)
    for name in ("INBOX", "Work"):
        assert by_folder[name].status == "synced", by_folder[name]
        assert sum(held[name].values()) == 3, name
