"""The folder workers' logins. On a first copy they go out while the folders are still being
listed and prepared (LIST, CREATE, SUBSCRIBE): over a 50 ms link a login is two round trips
that every worker but the first waited for after them (issue 16). A re-run, which may have one
folder to copy or none, logs in only the connections it uses. A server that refuses one
more connection (a per-user limit) gets fewer folders at once, not failed folders."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, FaultProxy
from testbed.basekit import put, put_in_folders
from testbed.copykit import mailbox, run_cli
from testbed.messages import sample_mailbox
from testbed.proxy import Tally

NAMES = ["Archive", "Work", "Lists", "Sent"]
LOGIN = re.compile(rb"(?:^|\n)\S+ (?:AUTHENTICATE|LOGIN) ", re.IGNORECASE)


class _AnswerHeld:
    """Counts the logins that reach the target and holds the first answer that says
    `completed` (b"Create", b"List") until `logins` of them have, or for 5 s (then `late`)."""

    def __init__(self, logins: int, completed: bytes = b"Create") -> None:
        self.wanted = logins
        self.completed = re.compile(rb"OK " + completed + rb" completed", re.IGNORECASE)
        self.logins = Tally()
        self.late = False
        self._held = False

    def up(self, data: bytes) -> None:
        self.logins.add(len(LOGIN.findall(data)))

    def down(self, data: bytes) -> None:
        if self._held or not self.completed.search(data):
            return
        self._held = True
        self.late = not self.logins.reached(self.wanted)


def _seed(source: Dovecot) -> None:
    put_in_folders(source, ["INBOX", *NAMES], 40)


@pytest.mark.parametrize("held_answer", [b"List", b"Create"])
def test_a_first_copy_logs_its_workers_in_while_folders_are_listed(
        held_answer: bytes, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    _seed(source)
    held = _AnswerHeld(logins=4, completed=held_answer)  # the first pair's and three workers'
    with FaultProxy(target.host, target.port, on_up=held.up, on_down=held.down) as proxy:
        done = run_cli(["copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                        "--state", str(tmp_path / "s.db"), "--workers", "4"],
                       source=source, target=target)
    assert done.returncode == 0, done.stderr
    assert not held.late, f"only {held.logins.count} logins before the {held_answer!r} answer"
    assert held.logins.count == 4  # one per worker, as before: none opened twice
    assert mailbox(target) == mailbox(source)


def test_a_rerun_logs_in_only_where_it_copies(source: Dovecot, target: Dovecot,
                                               tmp_path: Path) -> None:
    _seed(source)
    held = _AnswerHeld(logins=0)  # (only counts)
    with FaultProxy(target.host, target.port, on_up=held.up) as proxy:
        args = ["copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",  # the same target
                "--state", str(tmp_path / "s.db"), "--workers", "4", "--json"]
        first = run_cli(args, source=source, target=target)
        assert first.returncode == 0, first.stderr
        assert held.logins.count == 4
        put(source, sample_mailbox(3, ["Work"], seed=11))
        held.logins.count = 0
        again = run_cli(args, source=source, target=target)
    assert again.returncode == 0, again.stderr
    synced = [f["source"] for f in json.loads(again.stdout)["folders"] if f["status"] == "synced"]
    assert synced == ["Work"] and held.logins.count == 1  # one folder changed: one pair copies it
    assert mailbox(target) == mailbox(source)


def test_a_worker_whose_login_ahead_fails_leaves_its_folders_to_the_others(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    _seed(source)
    with FaultProxy(target.host, target.port) as proxy:
        proxy.cut_after(down=0, skip_connections=1)  # the second: the first worker's, ahead
        done = run_cli(["copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                        "--state", str(tmp_path / "s.db"), "--workers", "4", "--json"],
                       source=source, target=target)
        connections = proxy.connections
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert proxy.cuts_done == 1 and connections == 4  # no login made twice
    assert {f["status"] for f in summary["folders"]} == {"synced"}, summary["folders"]
    (note,) = summary["notes"]
    assert note.startswith("1 of 4 connection pairs could not log in, so 3 folder(s) ran at "
                           f"once: imap://alice@127.0.0.1:{proxy.port}: connection lost while "
                           "logging in"), note
    assert mailbox(target) == mailbox(source)


@pytest.mark.parametrize("side", ["source", "target"])
def test_a_server_that_allows_fewer_connections_gets_fewer_folders_at_once(
        side: str, dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    # one connection per user: two logins at once may both pass Dovecot's count of two
    source = dovecot_factory(max_userip_connections=1 if side == "source" else 200)
    target = dovecot_factory(max_userip_connections=1 if side == "target" else 200)
    _seed(source)
    args = ["copy", source.url(), target.url(), "--state", str(tmp_path / "s.db"),
            "--workers", "4", "--json"]
    done = run_cli(args, source=source, target=target)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {f["status"] for f in summary["folders"]} == {"synced"}, summary["folders"]
    # a first copy: three logins ahead while the first pair holds the one connection
    (note,) = summary["notes"]
    assert note.startswith("3 of 4 connection pairs could not log in, so 1 folder(s) ran at "
                           "once: ") and "Maximum number of connections" in note, note
    assert mailbox(target) == mailbox(source)
    again = run_cli(args, source=source, target=target)  # nothing left behind to redo
    assert again.returncode == 0 and json.loads(again.stdout)["totals"]["copied"] == 0
