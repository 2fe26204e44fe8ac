"""Issue 16: a re-run of a folder that only gained mail (and flag changes) reads only what
changed: the state rows of those messages, not the whole folder's, and no inventory of the
target (engine/sync.py `delta_applies`, docs/copy-engine.md "The delta"). These try to break
that path: each change below is one the whole-folder path handles, and the delta must either
handle it the same or see it and fall back. Each test fails if the delta trusts the state
where it cannot (checked by hand against a delta that ignores the target's marks, the
recorded foreign messages, the duplicate check, or what the target held before)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from mailferry.engine import CopySummary, FolderResult
from testbed import Dovecot, FaultProxy, imap_login
from testbed.copykit import MAILFERRY, mailbox, put, run_copy
from testbed.messages import make_message, sample_mailbox
from testbed.seed import SeedMessage


def _first_copy(source: Dovecot, target: Dovecot, state: Path) -> None:
    put(source, sample_mailbox(30, ["INBOX"], seed=16))
    summary = run_copy(source, target, state)
    assert not summary.failures
    assert mailbox(target) == mailbox(source)


def _inbox(summary: CopySummary) -> FolderResult:
    return next(f for f in summary.folders if f.source == "INBOX")


def _new_mail(count: int, seed: int) -> list[SeedMessage]:
    rng = random.Random(seed)
    return [SeedMessage(make_message(rng, 50_000 + seed * 100 + n, size=2500),
                        flags=("\\Seen",) if n % 2 else ()) for n in range(count)]


def _store(server: Dovecot, uid: int, change: str, flags: str, *, expunge: bool = False) -> None:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        conn.select("INBOX")
        conn.uid("STORE", str(uid), change, flags)
        if expunge:
            conn.expunge()
    finally:
        conn.logout()


def _copies(server: Dovecot, raw: bytes) -> int:
    """How many messages of the server's INBOX are `raw`."""
    digest = hashlib.sha256(raw).hexdigest()
    return sum(n for (sha, *_), n in Counter(mailbox(server)["INBOX"]).items() if sha == digest)


def test_a_copy_expunged_on_the_target_is_copied_again_with_the_new_mail(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    _first_copy(source, target, state)
    _store(target, 3, "+FLAGS", "(\\Deleted)", expunge=True)
    put(source, _new_mail(3, 1))
    summary = run_copy(source, target, state)
    assert not summary.failures
    assert mailbox(target) == mailbox(source)


def test_flag_changes_on_the_source_reach_the_target_and_the_targets_own_stay(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    _first_copy(source, target, state)
    _store(source, 2, "+FLAGS", "(\\Flagged $Delta)")
    _store(source, 4, "FLAGS", "()")
    _store(target, 5, "+FLAGS", "(\\Answered)")  # the target's user answered it meanwhile
    put(source, _new_mail(3, 2))
    summary = run_copy(source, target, state)
    assert not summary.failures and _inbox(summary).flags_updated >= 1
    # as on the source, but for message 5's \Answered: the target's own, left as it is
    answered = hashlib.sha256(_inbox_message(source, 5)).hexdigest()
    got, want = Counter(mailbox(target)["INBOX"]), Counter(mailbox(source)["INBOX"])
    assert {k: n for k, n in got.items() if k[0] != answered} == \
        {k: n for k, n in want.items() if k[0] != answered}
    assert [k[1] for k in got if k[0] == answered] == [
        _with_answered(k[1]) for k in want if k[0] == answered]


def _with_answered(flags: object) -> object:
    assert isinstance(flags, frozenset)
    return flags | {"\\Answered"}


def test_new_mail_another_client_put_in_the_target_too_is_not_copied_twice(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    _first_copy(source, target, state)
    new = _new_mail(4, 3)
    put(source, new)
    put(target, new[1:2])  # another tool (or the relay) brought one of them already
    summary = run_copy(source, target, state)
    assert not summary.failures
    assert _copies(target, new[1].raw) == 1
    assert mailbox(target) == mailbox(source)


def test_a_message_left_unclaimed_on_the_target_is_claimed_by_new_source_mail(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    new = _new_mail(3, 4)
    put(target, new[:1])  # on the target before the first run: recorded as foreign
    _first_copy_with_extra(source, target, state)
    put(source, new)  # then it arrives on the source too
    summary = run_copy(source, target, state)
    assert not summary.failures
    assert _copies(target, new[0].raw) == 1
    assert mailbox(target) == mailbox(source)


def _first_copy_with_extra(source: Dovecot, target: Dovecot, state: Path) -> None:
    put(source, sample_mailbox(30, ["INBOX"], seed=16))
    summary = run_copy(source, target, state)
    assert not summary.failures
    assert len(mailbox(target)["INBOX"]) == len(mailbox(source)["INBOX"]) + 1


def test_with_skip_duplicates_new_mail_already_in_the_folder_is_skipped(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    _first_copy(source, target, state)
    first = mailbox(source)["INBOX"]
    again = SeedMessage(_inbox_message(source, 7))  # the same message, arriving once more
    new = _new_mail(2, 5)
    put(source, [again, *new])
    summary = run_copy(source, target, state, skip_duplicates=True)
    assert not summary.failures and _inbox(summary).duplicates_skipped == 1
    assert _copies(target, again.raw) == 1
    assert len(mailbox(target)["INBOX"]) == len(first) + 2


def _inbox_message(server: Dovecot, uid: int) -> bytes:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        conn.select("INBOX", readonly=True)
        _, data = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
        raw = data[0]
        assert isinstance(raw, tuple)
        return raw[1]
    finally:
        conn.logout()


def test_a_run_killed_after_an_append_before_its_commit_then_rerun_copies_nothing_twice(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put(source, sample_mailbox(30, ["INBOX"], seed=16))
    state = tmp_path / "state.db"
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": source.password(),
           "MAILFERRY_TARGET_PASSWORD": target.password()}
    lock = threading.Lock()
    running: dict[str, subprocess.Popen[bytes] | None] = {"proc": None}

    def on_down(data: bytes) -> None:  # before the client reads the server's APPENDUID
        with lock:
            proc = running["proc"]
            if proc is not None and b"APPENDUID" in data:
                proc.send_signal(signal.SIGKILL)
                running["proc"] = None

    with FaultProxy(target.host, target.port, on_down=on_down) as proxy:
        args = [*MAILFERRY, "copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                "--state", str(state), "--batch-size", "2"]
        first = subprocess.run(args, env=env, capture_output=True, timeout=120)
        assert first.returncode == 0, first.stderr
        put(source, _new_mail(5, 6))
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        with lock:
            running["proc"] = proc
        assert proc.wait(timeout=120) == -signal.SIGKILL
        assert len(mailbox(target)["INBOX"]) > 30  # the kill came after an APPEND
        final = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
    assert mailbox(target) == mailbox(source)


def test_without_uidplus_new_mail_is_found_above_what_the_target_held(
        source: Dovecot, dovecot_factory: Callable[..., Dovecot], state: Path) -> None:
    """No APPENDUID: appended messages are looked for by fingerprint among the UIDs the
    target gained. A new source message identical to one copied before must be found in its
    own new copy, not in the old one: a later flag change then reaches the right message."""
    target = dovecot_factory(without_capabilities=("UIDPLUS",))
    _first_copy(source, target, state)
    again = SeedMessage(_inbox_message(source, 7), flags=("Work",))
    put(source, [again, *_new_mail(2, 7)])
    summary = run_copy(source, target, state)
    assert not summary.failures
    assert mailbox(target) == mailbox(source)
    _store(source, 31, "+FLAGS", "(\\Flagged)")  # the new one's flags change, not the old one's
    summary = run_copy(source, target, state)
    assert not summary.failures
    assert mailbox(target) == mailbox(source)


def test_new_mail_alone_is_synced_without_an_inventory_of_the_target_and_a_change_brings_it_back(
        source: Dovecot, target: Dovecot, state: Path) -> None:
    """The delta is what it claims: with only new mail, the target gets no UID SEARCH (the
    whole-folder path's inventory); once someone expunged on the target, the run sees it
    and inventories again. Either way the copy is exact."""
    put(source, sample_mailbox(30, ["INBOX"], seed=16))
    with FaultProxy(target.host, target.port, record=True) as proxy:
        assert not run_copy(source, target, state, target_port=proxy.port).failures
        put(source, _new_mail(3, 8))
        proxy.sent.clear()
        assert not run_copy(source, target, state, target_port=proxy.port).failures
        delta = proxy.commands()
        _store(target, 4, "+FLAGS", "(\\Deleted)", expunge=True)
        put(source, _new_mail(2, 9))
        proxy.sent.clear()
        assert not run_copy(source, target, state, target_port=proxy.port).failures
        whole = proxy.commands()
    assert "APPEND" in delta and "UID SEARCH" not in delta, delta
    assert "UID SEARCH" in whole, whole
    assert mailbox(target) == mailbox(source)
