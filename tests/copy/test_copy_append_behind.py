"""A batch's MULTIAPPEND goes out right behind the read-back FETCH of the batch before, so the
target stores it while that batch is checked and recorded (a huge folder's copy left the
target idle ~20% of its time between batches: issue 16), and the copy stays exact and in the
source's order. The bodies read back whatever the sizes say (a sample of a folder's first
batch) are asked in that same turn. Failures with a batch in flight:
test_copy_server_quirks.py."""

from __future__ import annotations

import re
from pathlib import Path

from testbed import Dovecot, FaultProxy
from testbed.basekit import put
from testbed.copykit import arrival_order, mailbox, run_cli
from testbed.messages import sample_mailbox
from testbed.proxy import Tally

BATCHES = 4
BATCH = 10


class _ReadBackHeld:
    """Holds each read-back answer (the target's RFC822.SIZE of a batch) until the client
    has sent the next batch's APPEND, or for 5 s: a client that waits for the answer before
    it sends the next batch shows as a read-back that was `late`."""

    def __init__(self) -> None:
        self.appends = Tally()
        self.answers = 0  # the batches whose read-back answer began (fresh target: UIDs 1..)
        self.late: list[int] = []

    def up(self, data: bytes) -> None:
        self.appends.add(len(re.findall(rb"(?:^|\n)M\d+ APPEND ", data)))

    def down(self, data: bytes) -> None:
        uid = re.search(rb"FETCH \(UID (\d+) RFC822\.SIZE", data)
        if uid is None:
            return
        answer = (int(uid.group(1)) - 1) // BATCH + 1
        if answer <= self.answers:  # the rest of one answer
            return
        self.answers = answer
        if answer < BATCHES and not self.appends.reached(answer + 1):
            self.late.append(answer)


def test_each_batch_goes_out_before_the_read_back_of_the_last_is_answered(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put(source, sample_mailbox(BATCHES * BATCH, ["INBOX"]))
    held = _ReadBackHeld()
    with FaultProxy(target.host, target.port, on_up=held.up, on_down=held.down) as proxy:
        done = run_cli(["copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                        "--state", str(tmp_path / "s.db"), "--batch-size", str(BATCH)],
                       source=source, target=target)
    assert done.returncode == 0, done.stderr
    assert held.appends.count == BATCHES and held.answers == BATCHES, (held.appends.count,
                                                                        held.answers)
    assert held.late == [], f"the next APPEND waited for read-back answers {held.late}"
    assert mailbox(target) == mailbox(source)
    # clients sort by arrival: UID order kept
    assert arrival_order(target) == arrival_order(source)


class _SizesHeld:
    """Holds the target's answer to a batch's sizes (RFC822.SIZE) until the client has asked
    for bodies (BODY.PEEK[]) too, or for 5 s: a client that asks for the first batch's sample
    only once the sizes came shows as `late`."""

    def __init__(self) -> None:
        self.bodies_asked = Tally()
        self.late = False
        self.held = False

    def up(self, data: bytes) -> None:
        self.bodies_asked.add(len(re.findall(rb"UID FETCH \S+ \(UID BODY\.PEEK\[\]\)", data)))

    def down(self, data: bytes) -> None:
        if self.held or b"RFC822.SIZE" not in data:
            return
        self.held = True
        self.late = not self.bodies_asked.reached(1)


def test_a_first_batch_sample_is_asked_with_the_sizes(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """One round trip at the end of each folder's first batch, not two (and, with a batch
    behind it, the sample no longer waits for that batch to be stored)."""
    put(source, sample_mailbox(BATCH, ["INBOX"]))
    held = _SizesHeld()
    with FaultProxy(target.host, target.port, on_up=held.up, on_down=held.down) as proxy:
        done = run_cli(["copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                        "--state", str(tmp_path / "s.db")], source=source, target=target)
    assert done.returncode == 0, done.stderr
    assert held.held, "no sizes were read back"
    assert not held.late, "the sample's bodies were asked only once the sizes had come"
    assert held.bodies_asked.count >= 1
    assert mailbox(target) == mailbox(source)
