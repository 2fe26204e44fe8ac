"""Mirror mode on real Dovecot: after a first pass the user files mail into folders (nested
and non-ASCII ones too), deletes some, empties the trash, re-flags, gets new mail; the
mirror pass makes the target what the source is, moving our copies (never transferring them
again) and removing what left the mailbox, while a message that reached the target another
way stays. Checked by reading both servers back with the test bed, not with mailferry."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, SeedMessage
from testbed.messages import make_message
from testbed.mirrorkit import Client, assert_mirrored, mailbox, put, run_copy

STRASSE = "Projekte/Stra&AN8-e"  # "Projekte/Straße" in modified UTF-7
NESTED = "Archive/2024/Q1"


@pytest.fixture(params=["move", "no-move"])
def target(request: pytest.FixtureRequest, dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    """The target with MOVE, and without it (then UID COPY, \\Deleted, UID EXPUNGE)."""
    if request.param == "move":
        return dovecot_factory()
    return dovecot_factory(without_capabilities=("MOVE",))


def _messages(count: int, folder: str, start: int, *, flags: tuple[str, ...] = ()
              ) -> list[SeedMessage]:
    rng = random.Random(start)
    return [SeedMessage(make_message(rng, start + n, size=1500), folder, flags,
                        dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=start + n))
            for n in range(count)]


def _first_pass(source: Dovecot, target: Dovecot, state: Path) -> None:
    put(source, _messages(40, "INBOX", 0) + _messages(6, NESTED, 100)
         + _messages(6, STRASSE, 200) + _messages(8, "Trash", 300, flags=("\\Seen",)))
    first = run_copy(source, target, state, mirror=True)
    assert first.ok and first.total("copied") == 60
    assert first.mirror.actions == []
    assert_mirrored(source, target)


def test_moves_deletions_trash_and_flags_follow_the_user(source: Dovecot, target: Dovecot,
                                                          tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    _first_pass(source, target, state)
    elsewhere = make_message(random.Random(9), 999, size=800)  # reached the target another way
    put(target, [SeedMessage(elsewhere, "INBOX")])
    with Client(source) as user:
        inbox = user.uids("INBOX")
        user.move("INBOX", inbox[0:5], NESTED)  # into a nested folder
        user.move("INBOX", inbox[5:8], STRASSE)  # into a non-ASCII folder
        user.move(STRASSE, user.uids(STRASSE)[:2], "INBOX")  # and out of it
        user.move(NESTED, user.uids(NESTED)[:1], STRASSE)  # nested to non-ASCII
        user.delete("INBOX", inbox[10:13])
        user.empty("Trash")
        user.flag("INBOX", inbox[20:26], "+FLAGS", "\\Flagged $Work")
        user.flag("INBOX", inbox[26:28], "-FLAGS", "\\Seen")
    put(source, _messages(2, "INBOX", 500))  # late mail
    before = mailbox(target)

    second = run_copy(source, target, state, mirror=True)

    assert second.ok, second.to_json()
    assert second.mirror.count("moved") == 11
    assert second.mirror.count("removed") == 3 + 8
    assert second.total("copied") == 2, "a moved message was transferred again"
    removed = [a for a in second.mirror.actions if a.action == "removed"]
    assert {a.folder for a in removed} == {"INBOX", "Trash"}
    assert all(a.message_id and a.date for a in removed)
    assert {a.to for a in second.mirror.actions if a.action == "moved"} == {
        "Archive/2024/Q1", "Projekte/Straße", "INBOX"}
    assert_mirrored(source, target, target_only={"INBOX": [elsewhere]})
    # nothing new arrived in the target folders except by the moves and the late mail
    assert sum(mailbox(target)["INBOX"].values()) == sum(before["INBOX"].values()) - 8 + 2 - 3 + 2
    # a third pass with nothing changed does nothing
    third = run_copy(source, target, state, mirror=True)
    assert third.ok and third.mirror.actions == [] and third.total("copied") == 0
    assert_mirrored(source, target, target_only={"INBOX": [elsewhere]})


def test_without_mirror_the_delta_pass_leaves_moved_and_deleted_mail(source: Dovecot,
                                                                    target: Dovecot,
                                                                    tmp_path: Path) -> None:
    """What users complained about, and what mirror mode is for."""
    state = tmp_path / "state.db"
    _first_pass(source, target, state)
    with Client(source) as user:
        inbox = user.uids("INBOX")
        user.move("INBOX", inbox[:4], NESTED)
        user.delete("INBOX", inbox[4:6])
    second = run_copy(source, target, state)
    assert second.ok and not second.mirror.enabled
    assert sum(mailbox(target)["INBOX"].values()) == 40
    assert sum(mailbox(source)["INBOX"].values()) == 34
