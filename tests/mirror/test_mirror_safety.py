"""Mirror mode's safety on real Dovecot: a folder the source lost stops the pass at the cap
(and a dry run lists every removal), --force goes on; a message the relay delivered to both
servers and the user deleted on the old one goes on the new one too; the source is never
changed. Checked by reading both servers back with the test bed."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from mailferry.store import StateStore
from testbed import Dovecot, SeedMessage
from testbed.messages import make_message
from testbed.mirrorkit import Client, assert_mirrored, mailbox, put, run_cli, run_copy


def _messages(count: int, folder: str, start: int) -> list[SeedMessage]:
    rng = random.Random(start)
    return [SeedMessage(make_message(rng, start + n, size=1200), folder, ("\\Seen",),
                        dt.datetime(2023, 3, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n))
            for n in range(count)]


def test_a_folder_lost_on_the_source_stops_at_the_cap(source: Dovecot, target: Dovecot,
                                                      tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    put(source, _messages(20, "INBOX", 0) + _messages(30, "Projects/Bank", 100))
    assert run_copy(source, target, state, mirror=True).ok
    with Client(source) as user:
        user.drop_folder("Projects/Bank")  # by accident, or a broken server
        user.delete("INBOX", user.uids("INBOX")[:2])  # under the cap: would be fine alone
    before = mailbox(target)
    source_before = mailbox(source)

    dry = run_copy(source, target, state, mirror=True, dry_run=True)
    assert dry.mirror.stopped is not None and "Projects/Bank" in dry.mirror.stopped
    assert dry.mirror.count("removed") == 32  # every one listed, none done
    assert {a.folder for a in dry.mirror.actions} == {"INBOX", "Projects/Bank"}
    assert mailbox(target) == before

    stopped = run_copy(source, target, state, mirror=True)
    assert not stopped.ok and stopped.exit_status == 1
    assert "--force" in (stopped.mirror.stopped or "")
    assert stopped.mirror.actions == []
    assert mailbox(target) == before, "a pass above the cap changed the target"

    forced = run_copy(source, target, state, mirror=True, force=True)
    assert forced.ok, forced.to_json()
    assert forced.mirror.count("removed") == 32
    assert mailbox(source) == source_before, "the source was changed"
    assert_mirrored(source, target)


def test_the_cap_as_a_number_and_the_trash_exempt(source: Dovecot, target: Dovecot,
                                                  tmp_path: Path) -> None:
    from mailferry.engine import MirrorCap

    state = tmp_path / "state.db"
    put(source, _messages(12, "INBOX", 0) + _messages(15, "Trash", 50))
    assert run_copy(source, target, state, mirror=True).ok
    with Client(source) as user:
        user.delete("INBOX", user.uids("INBOX")[:3])
        user.empty("Trash")  # 100% of a folder: what emptying the trash is
    capped = run_copy(source, target, state, mirror=True, mirror_cap=MirrorCap(count=2))
    assert capped.mirror.stopped is not None and "INBOX: 3 removals" in capped.mirror.stopped
    assert "Trash" not in capped.mirror.stopped
    done = run_copy(source, target, state, mirror=True, mirror_cap=MirrorCap(count=3))
    assert done.ok and done.mirror.count("removed") == 3 + 15
    assert_mirrored(source, target)


DELIVERED_OLD = (b"Return-Path: <news@shop.example>\r\nDelivered-To: alice@old.example\r\n"
                 b"Received: from relay.bank.example by old.example with LMTP id a1;"
                 b" Tue, 3 Dec 2024 10:00:01 +0000\r\n")
DELIVERED_NEW = (b"Return-Path: <news@shop.example>\r\nDelivered-To: alice@new.example\r\n"
                 b"Received: from relay.bank.example by new.example with LMTP id b7;"
                 b" Tue, 3 Dec 2024 10:00:03 +0000\r\n")
RELAYED = (b"From: Shop <news@shop.example>\r\nTo: alice@bank.example\r\n"
           b"Subject: Your weekly offers\r\nDate: Tue, 3 Dec 2024 10:00:00 +0000\r\n"
           b"Message-ID: <offers-49@shop.example>\r\n\r\nThis week only.\r\n")


def test_a_dual_delivered_message_deleted_on_the_old_system(source: Dovecot, target: Dovecot,
                                                             tmp_path: Path) -> None:
    """The relay delivered it to both; the first pass paired the two deliveries; the user
    deletes it on the old system: it goes on the new one too. Another message that only the
    new server holds (delivered after the routes switched) is never touched."""
    state = tmp_path / "state.db"
    put(source, _messages(5, "INBOX", 0) + [SeedMessage(DELIVERED_OLD + RELAYED)])
    late = DELIVERED_NEW.replace(b"b7", b"c9") + RELAYED.replace(b"offers-49", b"offers-50")
    put(target, [SeedMessage(DELIVERED_NEW + RELAYED), SeedMessage(late)])
    first = run_copy(source, target, state, mirror=True)
    assert first.ok and first.total("copied") == 5 and first.total("present") == 1
    with Client(source) as user:
        uids = user.uids("INBOX")
        user.delete("INBOX", uids[-1:])  # the relayed one (appended last)
    second = run_copy(source, target, state, mirror=True)
    assert second.ok, second.to_json()
    assert [(a.action, a.message_id) for a in second.mirror.actions] == [
        ("removed", "<offers-49@shop.example>")]
    assert_mirrored(source, target, target_only={"INBOX": [late]})


def test_a_mirror_pass_holds_the_mailbox_like_sync(source: Dovecot, target: Dovecot,
                                                  tmp_path: Path) -> None:
    """A mirror pass writes a target mailbox only under its lease: while another run holds
    it, `copy --mirror` moves and removes nothing (exit 1); once free, it mirrors."""
    state = tmp_path / "state.db"
    put(source, _messages(8, "INBOX", 0))
    assert run_copy(source, target, state, mirror=True).ok
    with Client(source) as user:
        inbox = user.uids("INBOX")
        user.move("INBOX", inbox[:2], "Archive")
        user.delete("INBOX", inbox[2:4])
    before = mailbox(target)
    args = ["copy", source.url(), target.url(), "--state", str(state), "--mirror"]
    store = StateStore.open(state)
    try:
        held = store.leases.acquire(target.url())
        refused = run_cli(args, source, target)
        assert refused.returncode == 1 and "in progress elsewhere" in refused.stderr
        assert mailbox(target) == before, "a mirror pass wrote without the lease"
        held.release()
    finally:
        store.close()
    done = run_cli(args, source, target)
    assert done.returncode == 0, done.stderr
    assert_mirrored(source, target)
