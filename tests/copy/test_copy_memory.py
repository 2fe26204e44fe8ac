"""Memory is bounded by the batch size, not the folder: the real `mailferry copy` process
copies a large folder under an address-space limit (RLIMIT_AS) that a small folder's copy
sets, and must finish with the target equal to the source.

The limit is calibrated, not guessed: the same process copies a small folder first and
reports its peak virtual size (VmPeak); the large folder gets that plus a margin well
below the large folder's size. A copy that held the folder (or any part that grows with it)
would need more than the margin and fails with MemoryError. MALLOC_ARENA_MAX=1: glibc
otherwise reserves 64 MB of address space per thread arena, room in which a growing folder
hides from the limit (measured: a copy holding the whole folder stayed under it).
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, SeedMessage, imap_login, read_folder, seed
from testbed.link import Link
from testbed.messages import make_message

MESSAGE_BYTES = 400_000
SMALL, LARGE = 12, 15 * 2**4  # 5 MB and 96 MB of mail
MARGIN = 32 << 20  # above the small run's peak: batches are 2 MB, a few in flight
# to a target 60 ms away batches are 8 MB (CopyOptions.batch_limits): three of them per
# worker (one read, one waiting, one appended) are 18 MB more; 192 MB of mail
FAR_MARGIN, FAR_LARGE = MARGIN + (18 << 20), 15 * 2**5

# runs the real CLI and writes its VmPeak (kB) to the file named first, at exit
PEAK_REPORTER = """
import atexit, runpy, sys
peak_file = sys.argv.pop(1)

def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmPeak:"))
    with open(peak_file, "w") as out:
        out.write(peak)

atexit.register(report)
runpy.run_module("mailferry", run_name="__main__", alter_sys=True)
"""


def _fill(server: Dovecot, count: int, doublings: int = 0) -> None:
    """`count` different messages, then the folder doubled `doublings` times by the server
    itself (IMAP COPY: cheap, where APPENDing 100 MB would take most of the test's time).
    The copies are genuine duplicates, and each must arrive (a multiset)."""
    rng = random.Random(count)
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        seed(conn, [SeedMessage(make_message(rng, n, size=300, attachment=MESSAGE_BYTES * 3 // 4))
                    for n in range(count)])
        conn.select("INBOX")
        for _ in range(doublings):
            typ, data = conn.uid("COPY", "1:*", "INBOX")
            assert typ == "OK", data
    finally:
        conn.logout()


def _copy(source: Dovecot, target: Dovecot, state: Path, peak_file: Path,
          address_space: int | None, *, delay: float = 0.0) -> subprocess.CompletedProcess[str]:
    """The CLI's copy; to a target `delay` seconds away each way where given."""
    def limit() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": source.password(),
           "MAILFERRY_TARGET_PASSWORD": target.password(), "MALLOC_ARENA_MAX": "1"}
    with contextlib.ExitStack() as stack:
        url = target.url()
        if delay:
            link = stack.enter_context(Link(target.host, target.port, delay=delay))
            url = f"imap://alice@127.0.0.1:{link.port}"
        return subprocess.run(
            [sys.executable, "-c", PEAK_REPORTER, str(peak_file), "copy", source.url(),
             url, "--state", str(state)],
            capture_output=True, text=True, env=env, timeout=600, preexec_fn=limit)


def _bodies(server: Dovecot) -> Counter[str]:
    conn = imap_login(server.host, server.port, "alice", server.password())
    try:
        return Counter(m.sha256 for m in read_folder(conn, "INBOX"))
    finally:
        conn.logout()


@pytest.mark.slow
@pytest.mark.parametrize(("delay", "margin", "large"), [(0.0, MARGIN, LARGE),
                                                     (0.03, FAR_MARGIN, FAR_LARGE)],
                         ids=["near", "far-target"])
def test_a_large_folder_copies_within_the_memory_of_a_small_one(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path, delay: float, margin: int,
        large: int) -> None:
    small_source, small_target = dovecot_factory(), dovecot_factory()
    _fill(small_source, SMALL)
    calibration = _copy(small_source, small_target, tmp_path / "small.db",
                        tmp_path / "small.peak", None, delay=delay)
    assert calibration.returncode == 0, calibration.stderr
    assert _bodies(small_target) == _bodies(small_source)
    small_peak = int((tmp_path / "small.peak").read_text()) * 1024

    large_source, large_target = dovecot_factory(), dovecot_factory()
    _fill(large_source, 15, doublings=(large // 15).bit_length() - 1)
    assert large * MESSAGE_BYTES > 2 * margin  # holding the folder cannot fit in the margin
    limited = _copy(large_source, large_target, tmp_path / "large.db",
                    tmp_path / "large.peak", small_peak + margin, delay=delay)
    assert limited.returncode == 0, (
        f"the large folder did not copy within {(small_peak + margin) >> 20} MB of address "
        f"space (the small one peaked at {small_peak >> 20} MB): {limited.stderr[-2000:]}")
    assert _bodies(large_target) == _bodies(large_source)
    assert sum(_bodies(large_target).values()) == large


BIG_MESSAGE = 48 << 20


@pytest.mark.slow
def test_a_large_message_is_held_once(dovecot_factory: Callable[..., Dovecot],
                                      tmp_path: Path) -> None:
    """A 48 MB message costs the copy about 48 MB, not two or three times that: its literal
    is received straight into the bytes that are appended, and the target's read-back does
    not fetch it again once ordinary messages of the folder came back unchanged (it did, for
    every message with an 8-bit header: most international mail)."""
    small_source, small_target = dovecot_factory(), dovecot_factory()
    _fill(small_source, SMALL)
    calibration = _copy(small_source, small_target, tmp_path / "small.db",
                        tmp_path / "small.peak", None)
    assert calibration.returncode == 0, calibration.stderr
    small_peak = int((tmp_path / "small.peak").read_text()) * 1024

    source, target = dovecot_factory(), dovecot_factory()
    rng = random.Random(48)
    eight_bit = b"X-Sender-Name: Chlo\xc3\xa9 Stra\xc3\x9fe\r\n"
    mail = [SeedMessage(eight_bit + make_message(rng, n)) for n in range(6)]
    mail.append(SeedMessage(eight_bit + make_message(rng, 6, attachment=BIG_MESSAGE * 3 // 4)))
    conn = imap_login(source.host, source.port, "alice", source.password())
    try:
        seed(conn, mail)
    finally:
        conn.logout()
    big = len(mail[-1].raw)
    # measured: VmPeak grows by 1 message (45 MB); received via a bytearray and read back
    # it grew by 2.75 (135 MB)
    limit = small_peak + big * 3 // 2
    limited = _copy(source, target, tmp_path / "big.db", tmp_path / "big.peak", limit)
    assert limited.returncode == 0, (
        f"a {big >> 20} MB message did not copy within {limit >> 20} MB of address space "
        f"(a small folder peaked at {small_peak >> 20} MB): {limited.stderr[-2000:]}")
    assert _bodies(target) == _bodies(source)
