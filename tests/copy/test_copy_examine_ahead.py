"""A re-run's first look EXAMINEs the biggest folder recorded in the login's write, ahead of
the LIST (Dovecot: a STATUS of a big folder not selected opens it anew, and within a second
of new mail rescans the whole Maildir at each opening: 0.2 s at 100,000 messages). When the
first look finds new mail (a source folder's STATUS differs from the marks), the biggest
changed folder is examined right then (only its UID SEARCH if the login examined it), and
the store loads and the lease is taken while the source answers (bench/huge_folder_bench.py's
delta). The copy's worker on that connection takes that folder first and uses those
answers. Mail that arrives after them is copied by the next run, once; mail expunged after
them costs no retry; a connection lost with the EXAMINE in flight, or with its answer on the
way, loses and repeats nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from testbed import Dovecot, FaultProxy, imap_login
from testbed.basekit import put, put_in_folders
from testbed.command import MAILFERRY
from testbed.copykit import mailbox, run_cli
from testbed.messages import sample_mailbox

EXAMINE = re.compile(rb"(?:^|\n)\S+ EXAMINE (\S+)", re.IGNORECASE)
LIST = re.compile(rb"(?:^|\n)\S+ LIST ", re.IGNORECASE)
EXAMINED = re.compile(rb"OK \[READ-ONLY\][^\r\n]*Examine completed", re.IGNORECASE)
WORK_EXAMINED = re.compile(rb"(?:^|\n)\S+ EXAMINE \"?Work\b", re.IGNORECASE)


class _Order:
    """Which folders the source was asked to EXAMINE, and how many LISTs had reached the
    target by then (the LIST under the lease comes after the store is loaded)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.target_lists = 0
        self.examined: list[tuple[bytes, int]] = []  # (folder, target LISTs by then)

    def target_up(self, data: bytes) -> None:
        with self.lock:
            self.target_lists += len(LIST.findall(data))

    def source_up(self, data: bytes) -> None:
        with self.lock:
            self.examined += [(m.group(1), self.target_lists) for m in EXAMINE.finditer(data)]

    def reset(self) -> None:
        with self.lock:
            self.target_lists, self.examined = 0, []


def _copy(source: Dovecot, target: Dovecot, source_port: int, target_port: int,
          state: Path, *options: str) -> dict[str, dict[str, object]]:
    done = run_cli(["copy", f"imap://alice@127.0.0.1:{source_port}",
                    f"imap://alice@127.0.0.1:{target_port}", "--state", str(state), "--json",
                    *options], source=source, target=target)
    assert done.returncode == 0, done.stderr
    return {f["source"]: f for f in json.loads(done.stdout)["folders"]}


def test_the_changed_folder_is_examined_before_the_store_is_loaded(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put_in_folders(source, ["INBOX", "Work", "Archive"], 30)  # INBOX the biggest
    order = _Order()
    with FaultProxy(source.host, source.port, on_up=order.source_up) as src, \
            FaultProxy(target.host, target.port, on_up=order.target_up) as tgt:
        state = tmp_path / "s.db"
        _copy(source, target, src.port, tgt.port, state)
        src.wait_closed()
        tgt.wait_closed()
        order.reset()
        put(source, sample_mailbox(3, ["Work"], seed=11))
        folders = _copy(source, target, src.port, tgt.port, state)
    assert folders["Work"]["status"] == "synced" and folders["Work"]["copied"] == 3
    assert {f: folders[f]["status"] for f in ("INBOX", "Archive")} == {
        "INBOX": "unchanged", "Archive": "unchanged"}
    # INBOX with the login; Work once: the copy took the answers of the EXAMINE sent ahead
    assert [folder.strip(b'"') for folder, _ in order.examined] == [b"INBOX", b"Work"]
    (_, lists_by_then) = order.examined[1]
    assert lists_by_then < order.target_lists, (
        "the EXAMINE went out only after the LIST under the lease")
    assert mailbox(target) == mailbox(source)


def test_new_mail_in_the_folder_examined_with_the_login_is_looked_at_once(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """The delta into the biggest folder: the login's EXAMINE serves the copy, which sends
    that folder only its UID SEARCH (a second EXAMINE made Dovecot rescan it again)."""
    put_in_folders(source, ["INBOX", "Work"], 40)
    order = _Order()
    with FaultProxy(source.host, source.port, on_up=order.source_up, record=True) as src:
        state = tmp_path / "s.db"
        _copy(source, target, src.port, target.port, state)
        src.wait_closed()
        order.reset()
        src.sent.clear()
        put(source, sample_mailbox(3, ["INBOX"], seed=12))
        folders = _copy(source, target, src.port, target.port, state)
        commands = src.commands()
    assert folders["INBOX"]["status"] == "synced" and folders["INBOX"]["copied"] == 3
    assert folders["Work"]["status"] == "unchanged"
    assert [folder.strip(b'"') for folder, _ in order.examined] == [b"INBOX"]
    assert commands[:3] == ["AUTHENTICATE", "EXAMINE", "LIST"]  # one write: the login's
    assert commands.count("UID SEARCH") == 1
    assert mailbox(target) == mailbox(source)


@pytest.mark.parametrize("change", ["arrives", "expunged"])
def test_mail_that_changes_after_the_login_examine_costs_no_retry_and_no_loss(
        change: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """The login's EXAMINE answered, then mail arrives in that folder, or one message is
    expunged, before the copy asks its UIDs: the run copies what it found, with no retry,
    and the next run the rest. Dovecot answers the SEARCH from the folder as the EXAMINE
    saw it, then tells of the change (EXISTS, EXPUNGE): a SEARCH short of the count that
    EXISTS gave was taken for an incomplete answer, and the folder tried again."""
    put_in_folders(source, ["INBOX", "Work"], 40)
    armed = threading.Event()
    order = _Order()

    def down(data: bytes) -> None:
        if armed.is_set() and EXAMINED.search(data):
            armed.clear()
            if change == "arrives":
                put(source, sample_mailbox(2, ["INBOX"], seed=24))
                return
            conn = imap_login(source.host, source.port, "alice", source.password())
            conn.select("INBOX")
            conn.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
            conn.expunge()
            conn.logout()

    with FaultProxy(source.host, source.port, on_up=order.source_up, on_down=down) as src:
        state = tmp_path / "s.db"
        _copy(source, target, src.port, target.port, state)
        before = mailbox(source)["INBOX"]
        src.wait_closed()
        order.reset()
        put(source, sample_mailbox(3, ["INBOX"], seed=12))
        armed.set()
        first = _copy(source, target, src.port, target.port, state)
        assert not armed.is_set(), "no EXAMINE answer was seen"
        examined = [folder.strip(b'"') for folder, _ in order.examined]
        assert examined.count(b"INBOX") == 1, "the folder was examined again: a retry"
        second = _copy(source, target, src.port, target.port, state)
    assert first["INBOX"]["status"] == "synced" and first["INBOX"]["failed"] == 0
    new = 5 if change == "arrives" else 3
    assert first["INBOX"]["copied"] + second["INBOX"]["copied"] == new
    if change == "arrives":
        assert mailbox(target) == mailbox(source)
    else:  # the copy deletes nothing: the target keeps the message expunged at the source
        gone = before - mailbox(source)["INBOX"]
        assert sum(gone.values()) == 1
        assert mailbox(target)["INBOX"] == mailbox(source)["INBOX"] + gone


def test_mail_that_arrives_after_the_examine_is_copied_by_the_next_run_once(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put_in_folders(source, ["INBOX", "Work"], 30)
    armed = threading.Event()

    def down(data: bytes) -> None:
        if armed.is_set() and EXAMINED.search(data):
            armed.clear()  # the answer is on its way: new mail lands after it
            put(source, sample_mailbox(2, ["Work"], seed=23))

    with FaultProxy(source.host, source.port, on_down=down) as src:
        state = tmp_path / "s.db"
        _copy(source, target, src.port, target.port, state)
        put(source, sample_mailbox(3, ["Work"], seed=11))
        armed.set()
        first = _copy(source, target, src.port, target.port, state)
        assert not armed.is_set(), "no EXAMINE answer was seen"
        second = _copy(source, target, src.port, target.port, state)
    assert first["Work"]["copied"] + second["Work"]["copied"] == 5
    assert mailbox(target) == mailbox(source)


@pytest.mark.parametrize("folder", ["Work", "INBOX"])
@pytest.mark.parametrize("where", ["request", "answer"])
def test_a_connection_lost_with_the_examine_ahead_loses_and_repeats_nothing(
        where: str, folder: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """New mail in Work: its EXAMINE and UID SEARCH go ahead; in INBOX, EXAMINEd with the
    login, its UID SEARCH alone. The connection cut as that goes out, or as its answer comes
    back: the run reconnects and copies the 4 new messages once, the next finds nothing."""
    put_in_folders(source, ["INBOX", "Work"], 30)
    armed = threading.Event()
    cut: list[str] = []
    examined: list[int] = []  # EXAMINE answers seen in the armed run: the login's is first
    ahead = WORK_EXAMINED if folder == "Work" else re.compile(rb" UID SEARCH ", re.I)

    def up(data: bytes) -> None:
        if where == "request" and armed.is_set() and ahead.search(data):
            armed.clear()
            cut.append("request")
            raise OSError("cut: the command sent ahead never reaches the server")

    def down(data: bytes) -> None:
        if where != "answer" or not armed.is_set():
            return
        if folder == "Work":
            examined.append(len(EXAMINED.findall(data)))
            if sum(examined) < 2:
                return  # the login's, of INBOX
        elif b"* ESEARCH " not in data:
            return
        armed.clear()
        cut.append("answer")
        raise OSError("cut: the answer never reaches the client")

    with FaultProxy(source.host, source.port, on_up=up, on_down=down) as src:
        state = tmp_path / "s.db"
        _copy(source, target, src.port, target.port, state)
        put(source, sample_mailbox(4, [folder], seed=11))
        armed.set()
        folders = _copy(source, target, src.port, target.port, state)
        assert cut == [where]
        assert folders[folder]["status"] == "synced" and folders[folder]["copied"] == 4
        again = _copy(source, target, src.port, target.port, state)
    assert again[folder]["status"] == "unchanged"
    assert mailbox(target) == mailbox(source)


@pytest.mark.parametrize("workers", [1, 4])
def test_with_several_folders_changed_the_biggest_is_examined_ahead_and_all_are_copied(
        workers: int, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put_in_folders(source, ["INBOX", "Work", "Archive"], 30)
    order = _Order()
    with FaultProxy(source.host, source.port, on_up=order.source_up) as src:
        state = tmp_path / "s.db"
        args = ["copy", f"imap://alice@127.0.0.1:{src.port}", target.url(),
                "--state", str(state), "--json", "--workers", str(workers)]
        assert run_cli(args, source=source, target=target).returncode == 0
        src.wait_closed()
        order.reset()
        added = {name: len(put(source, sample_mailbox(count, [name], seed=count)))
                 for name, count in (("Work", 2), ("Archive", 40), ("INBOX", 1))}
        done = run_cli(args, source=source, target=target)
    assert done.returncode == 0, done.stderr
    copied = {f["source"]: f["copied"] for f in json.loads(done.stdout)["folders"]
              if f["copied"]}
    assert copied == added  # Archive the biggest
    examined = [folder.strip(b'"') for folder, _ in order.examined]
    # INBOX with the login (the biggest recorded), then Archive ahead (the biggest changed)
    assert examined[:2] == [b"INBOX", b"Archive"]
    assert sorted(examined[1:]) == [b"Archive", b"INBOX", b"Work"]
    assert mailbox(target) == mailbox(source)


@pytest.mark.parametrize("folder", ["Work", "INBOX"])
def test_two_runs_at_once_after_new_mail_copy_it_once(
        folder: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """Both examine the changed folder before either holds the lease (INBOX, the biggest,
    with the login: then only its UIDs are asked ahead); the one that waits for it copies
    from answers older than what the other recorded, and repeats nothing."""
    put_in_folders(source, ["INBOX", "Work"], 30)
    state = tmp_path / "s.db"
    args = [*MAILFERRY, "copy", source.url(), target.url(), "--state", str(state), "--json",
            "--wait"]
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": source.password(),
           "MAILFERRY_TARGET_PASSWORD": target.password()}
    assert subprocess.run(args, env=env, capture_output=True, timeout=300).returncode == 0
    for round_number in range(2):
        put(source, sample_mailbox(6, [folder], seed=30 + round_number))
        runs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
        copied = [{f["source"]: f["copied"] for f in json.loads(out)["folders"]}[folder]
                  for out, _ in outputs]
        assert sorted(copied)[0] == 0 and sum(copied) >= 6, copied
        assert mailbox(target) == mailbox(source)  # every message once


@pytest.mark.parametrize(("new_mail", "held"), [(3, 0.5), (0, 0.5), (0, 0.15)])
def test_a_first_look_slow_to_answer_loads_the_store_meanwhile_and_copies_exactly(
        new_mail: int, held: float, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """Dovecot, reading a changed folder again, answers the EXAMINE sent with the login
    late (here the proxy holds it back after the login's answer): SQLAlchemy and the store
    load on a thread meanwhile, as the log says. A delta then copies its mail once; a run
    that finds nothing changed exits cleanly without waiting for that loading (held 0.15 s,
    it ends while the import, ~0.2 s, is still under way)."""
    put_in_folders(source, ["INBOX", "Work"], 30)
    log = tmp_path / "run.log"
    state = tmp_path / "s.db"
    with FaultProxy(source.host, source.port) as src:
        _copy(source, target, src.port, target.port, state)
        src.wait_closed()
        if new_mail:
            put(source, sample_mailbox(new_mail, ["INBOX"], seed=31))
        hold = src.hold_down_at(b"Logged in\r\n", 1)

        def release() -> None:
            if hold.reached.wait(60):
                time.sleep(held)
            hold.release()

        releasing = threading.Thread(target=release, daemon=True)
        releasing.start()
        done = run_cli(["copy", f"imap://alice@127.0.0.1:{src.port}",
                        f"imap://alice@127.0.0.1:{target.port}", "--state", str(state),
                        "--json", "--log-file", str(log)], source=source, target=target)
        releasing.join()
        again = _copy(source, target, src.port, target.port, state)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "the store loads meanwhile" in log.read_text()
    folders = {f["source"]: f for f in json.loads(done.stdout)["folders"]}
    assert folders["INBOX"]["copied"] == new_mail
    assert folders["INBOX"]["status"] == ("synced" if new_mail else "unchanged")
    assert {f["status"] for f in again.values()} == {"unchanged"}
    assert mailbox(target) == mailbox(source)


CHANGED_SINCE = re.compile(rb" UID FETCH 1:\d+ \(UID FLAGS\) \(CHANGEDSINCE \d+\)", re.I)
FLAGS_CHANGED = re.compile(rb"\* \d+ FETCH \(UID \d+ FLAGS \([^)]*\) MODSEQ", re.I)


@pytest.mark.parametrize("folder", ["Work", "INBOX"])
def test_the_changed_folders_flag_changes_are_asked_ahead_once(
        folder: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """New mail and a flag changed in one folder: its flag changes since the last run are
    asked in the write that examines it ahead (before the store loads and the LIST under
    the lease), once; the copy takes that answer. Work: EXAMINE, SEARCH and the FETCH;
    INBOX, EXAMINEd with the login: the SEARCH and the FETCH."""
    put_in_folders(source, ["INBOX", "Work"], 40)
    with FaultProxy(source.host, source.port, record=True) as src:
        state = tmp_path / "s.db"
        _copy(source, target, src.port, target.port, state)
        src.wait_closed()
        src.sent.clear()
        put(source, sample_mailbox(3, [folder], seed=13))
        conn = imap_login(source.host, source.port, "alice", source.password())
        conn.select(folder)
        conn.uid("STORE", "2", "+FLAGS", "(\\Flagged $Urgent)")
        conn.logout()
        folders = _copy(source, target, src.port, target.port, state)
        sent = bytes(src.sent)
    assert folders[folder]["status"] == "synced" and folders[folder]["copied"] == 3
    assert folders[folder]["flags_updated"] == 1
    asked = [m.start() for m in CHANGED_SINCE.finditer(sent)]
    assert len(asked) == 1, sent
    lists = [m.start() for m in LIST.finditer(sent)]
    assert len(lists) >= 2 and asked[0] < lists[1], "asked only under the lease"
    assert mailbox(target) == mailbox(source)


@pytest.mark.parametrize("change", ["flagged", "deleted"])
def test_a_flag_changed_after_the_answer_sent_ahead_is_carried_by_the_next_run(
        change: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """The flag changes asked ahead answered (one message flagged), then another client
    flags a second one, or marks one \\Deleted and expunges it, before the copy: the run
    carries what it was told; the next run the rest. The message deleted after the answer
    stays on the target as it was copied, without \\Deleted. (A \\Deleted the answer
    tells of, in the same answers as the EXPUNGE, is not taken: the copy asks again, as
    test_mail_that_changes_after_the_login_examine_costs_no_retry_and_no_loss[expunged]
    shows; one the source reports before the expunge is carried, as it always was.)"""
    put_in_folders(source, ["INBOX", "Work"], 40)
    armed = threading.Event()

    def down(data: bytes) -> None:
        if not armed.is_set() or not FLAGS_CHANGED.search(data):
            return
        armed.clear()  # the answer is on its way: the change lands after it
        conn = imap_login(source.host, source.port, "alice", source.password())
        conn.select("Work")
        if change == "flagged":
            conn.uid("STORE", "3", "+FLAGS", "(\\Answered)")
        else:
            conn.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
            conn.expunge()
        conn.logout()

    with FaultProxy(source.host, source.port, on_down=down) as src:
        state = tmp_path / "s.db"
        _copy(source, target, src.port, target.port, state)
        put(source, sample_mailbox(2, ["Work"], seed=14))
        conn = imap_login(source.host, source.port, "alice", source.password())
        conn.select("Work")
        conn.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
        conn.logout()
        before = mailbox(source)["Work"]
        armed.set()
        first = _copy(source, target, src.port, target.port, state)
        assert not armed.is_set(), "no answer with flag changes was seen"
        _copy(source, target, src.port, target.port, state)
    assert first["Work"]["copied"] == 2
    if change == "flagged":
        assert mailbox(target) == mailbox(source)
    else:
        gone = before - mailbox(source)["Work"]
        assert sum(gone.values()) == 1
        assert mailbox(target)["Work"] == mailbox(source)["Work"] + gone
        assert not any("\\Deleted" in flags for (_, flags, _) in mailbox(target)["Work"])
