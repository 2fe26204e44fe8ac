"""A re-run's first look SELECTs the target's biggest recorded folder in the login's write
(the source's is EXAMINEd: test_copy_examine_ahead.py), and a copy into that folder takes
that opening after a NOOP instead of a SELECT of its own. On Dovecot each opening of a
Maildir changed within the last second rescans it whole (150-200 ms at 100,000 messages):
a delta right after the last copy paid it twice (bench/huge_folder_bench.py). The opening
is older than the lease, so what changed on the target since must not be missed: a
message another client put in or deleted, or the relay's own delivery of a message the
source holds too, is told by the server at that NOOP, and the folder is SELECTed again."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, FaultProxy, imap_login
from testbed.basekit import put, put_in_folders
from testbed.copykit import deliver, mailbox, relayed, run_cli
from testbed.messages import sample_mailbox

SELECTED = re.compile(rb"OK \[READ-WRITE\][^\r\n]*Select completed", re.IGNORECASE)


def _copy(source: Dovecot, target: Dovecot, target_port: int, state: Path,
          ) -> dict[str, dict[str, object]]:
    done = run_cli(["copy", source.url(), f"imap://alice@127.0.0.1:{target_port}",
                    "--state", str(state), "--json"], source=source, target=target)
    assert done.returncode == 0, done.stderr
    return {f["source"]: f for f in json.loads(done.stdout)["folders"]}


def _relayed_copies(server: Dovecot, n: int) -> int:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        conn.select("INBOX", readonly=True)
        _, found = conn.search(None, "BODY", f'"relayed body {n}"')
        return len(found[0].split())
    finally:
        conn.logout()


def test_the_delta_into_the_targets_biggest_folder_opens_it_once(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put_in_folders(source, ["INBOX", "Work"], 40)
    state = tmp_path / "s.db"
    with FaultProxy(target.host, target.port, record=True) as tgt:
        _copy(source, target, tgt.port, state)
        tgt.wait_closed()
        tgt.sent.clear()
        put(source, sample_mailbox(3, ["INBOX"], seed=12))
        folders = _copy(source, target, tgt.port, state)
        commands = tgt.commands()
        again = _copy(source, target, tgt.port, state)  # (the proxy's URL: the same account)
    assert folders["INBOX"]["status"] == "synced" and folders["INBOX"]["copied"] == 3
    assert folders["Work"]["status"] == "unchanged"
    assert commands[:3] == ["AUTHENTICATE", "SELECT", "LIST"]  # one write: the login's
    assert commands.count("SELECT") == 1 and "EXAMINE" not in commands, commands
    assert commands.count("NOOP") == 1
    assert mailbox(target) == mailbox(source)
    assert {f["status"] for f in again.values()} == {"unchanged"}


@pytest.mark.parametrize("change", ["relayed", "foreign", "expunged"])
def test_what_changes_on_the_target_after_the_logins_select_is_seen_by_the_copy(
        change: str, dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """Between the login's SELECT of the target INBOX and the copy (new mail at the source):
    the relay delivers to the target the message it delivered to the source (the copy must
    not bring it a second time), another client puts a message in (the state must record
    it, so the next run finds nothing to do), or a copied message is expunged (the copy
    brings it again). Trusting the opening without the NOOP fails each."""
    source, target = dovecot_factory(lmtp=True), dovecot_factory(lmtp=True)
    put_in_folders(source, ["INBOX", "Work"], 30)
    state = tmp_path / "s.db"
    armed = threading.Event()

    def down(data: bytes) -> None:
        if not (armed.is_set() and SELECTED.search(data)):
            return
        armed.clear()  # the login's SELECT is answered: the change comes before the copy
        if change == "relayed":
            deliver(target, relayed(70))
        elif change == "foreign":
            put(target, sample_mailbox(1, ["INBOX"], seed=99))
        else:
            conn = imap_login(target.host, target.port, "alice", target.password())
            conn.select("INBOX")
            conn.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
            conn.expunge()
            conn.logout()

    with FaultProxy(target.host, target.port, on_down=down, record=True) as tgt:
        _copy(source, target, tgt.port, state)
        tgt.wait_closed()
        before = mailbox(target)["INBOX"]
        tgt.sent.clear()
        deliver(source, relayed(70))
        put(source, sample_mailbox(2, ["INBOX"], seed=13))
        armed.set()
        folders = _copy(source, target, tgt.port, state)
        assert not armed.is_set(), "no SELECT answer was seen"
        commands = tgt.commands()
        held, twins = mailbox(target)["INBOX"], _relayed_copies(target, 70)
        again = _copy(source, target, tgt.port, state)
    assert folders["INBOX"]["status"] == "synced"
    if change == "relayed":  # the relay's copy stands for the source's: not copied
        assert twins == 1
        assert folders["INBOX"]["copied"] == 2
        assert sum(held.values()) == sum(before.values()) + 3
    elif change == "foreign":
        assert folders["INBOX"]["copied"] == 3
        assert sum((held - mailbox(source)["INBOX"]).values()) == 1  # the foreign one
        assert sum((mailbox(source)["INBOX"] - held).values()) == 0
    else:
        assert held == mailbox(source)["INBOX"]
        assert folders["INBOX"]["copied"] == 4  # the 3 new and the one expunged
    # and the state recorded the target as it is: the next run has nothing to do
    assert {f["status"] for f in again.values()} == {"unchanged"}
    assert mailbox(target)["INBOX"] == held
    assert commands[:3] == ["AUTHENTICATE", "SELECT", "LIST"]
    assert commands.count("SELECT") == 2, commands  # the opening was not taken
