"""To a far target, batches grow with the round trip (CopyOptions.batch_limits): each batch
leaves the target idle for one round trip (its OK travels back, the next batch out), and 50 ms
away the 19 batches of a 43 MB folder were a third of its copy. Up to 4x (400 messages, 8 MB)
from 50 ms on. Near, a folder's batches after its first 4 grow to 400 messages within the same
2 MB (Dovecot's cost per MULTIAPPEND). A --batch-size given is kept. Counted where the target
reads them: the APPEND commands; the copy exact and in the source's order either way."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from testbed import Dovecot, FaultProxy
from testbed.basekit import put
from testbed.copykit import arrival_order, mailbox, run_cli
from testbed.link import Link
from testbed.messages import sample_mailbox

SMALL = {"count": 250, "sizes": (1500, 6000)}  # 3 batches of 100 near; 1 of up to 400 far
LARGE = {"count": 12, "sizes": (400_000, 550_000)}  # 5-7 MB: 2 MB batches near; 8 MB far


def _appends(source: Dovecot, target: Dovecot, tmp_path: Path, *, delay: float | None,
             extra: tuple[str, ...] = ()) -> int:
    """Copy through a link `delay` seconds each way (None: straight to the recording proxy);
    the APPEND commands the target was sent."""
    with contextlib.ExitStack() as stack:
        upstream: Dovecot | Link = target
        if delay is not None:
            upstream = stack.enter_context(Link(target.host, target.port, delay=delay))
        proxy = stack.enter_context(FaultProxy(upstream.host, upstream.port, record=True))
        done = run_cli(["copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                        "--state", str(tmp_path / "s.db"), *extra],
                       source=source, target=target)
        assert done.returncode == 0, done.stderr
        return proxy.commands().count("APPEND")


@pytest.mark.parametrize("mail", [SMALL, LARGE], ids=["small", "large"])
def test_a_far_target_takes_the_folder_in_fewer_larger_batches(
        source: Dovecot, target: Dovecot, tmp_path: Path, mail: dict[str, Any]) -> None:
    put(source, sample_mailbox(mail["count"], ["INBOX"], sizes=mail["sizes"]))
    appends = _appends(source, target, tmp_path, delay=0.03)  # 60 ms round trip
    assert appends == 1, f"{appends} APPENDs to a target 60 ms away"
    assert mailbox(target) == mailbox(source)
    # clients sort by arrival: UID order kept
    assert arrival_order(target) == arrival_order(source)


@pytest.mark.parametrize("mail", [SMALL, LARGE], ids=["small", "large"])
def test_a_near_target_keeps_batches_of_100_messages_and_2_mb(
        source: Dovecot, target: Dovecot, tmp_path: Path, mail: dict[str, Any]) -> None:
    put(source, sample_mailbox(mail["count"], ["INBOX"], sizes=mail["sizes"]))
    appends = _appends(source, target, tmp_path, delay=None)
    assert appends >= 3, f"{appends} APPENDs to a target on this machine"
    assert mailbox(target) == mailbox(source)


def test_a_batch_size_given_is_kept_however_far_the_target(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put(source, sample_mailbox(SMALL["count"], ["INBOX"], sizes=SMALL["sizes"]))
    appends = _appends(source, target, tmp_path, delay=0.03, extra=("--batch-size", "100"))
    assert appends == 3, f"{appends} APPENDs of at most 100 messages for 250 and more"
    assert mailbox(target) == mailbox(source)


@pytest.mark.parametrize("given", [None, 100])
def test_a_big_folder_near_goes_on_in_batches_of_400_after_its_first_4(
        source: Dovecot, target: Dovecot, tmp_path: Path, given: int | None) -> None:
    """~1,000 small messages: 4 batches of 100, then of up to 400 (none reaches 2 MB); with
    --batch-size 100, all of 100."""
    mail = sample_mailbox(1000, ["INBOX"], sizes=(1500, 3000))
    put(source, mail)
    extra = ("--batch-size", str(given)) if given else ()
    appends = _appends(source, target, tmp_path, delay=None, extra=extra)
    expected = -(-len(mail) // 100) if given else 4 + -(-(len(mail) - 400) // 400)
    assert appends == expected, f"{appends} APPENDs for {len(mail)} messages"
    assert mailbox(target) == mailbox(source)
    assert arrival_order(target) == arrival_order(source)
