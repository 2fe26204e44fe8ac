"""The durability boundary: nothing is answered 250 before the spool has fsynced it.

Only pulling the plug could show a missing fsync, so this is the one test that checks
calls instead of outcomes: it records the fsync calls made by the spool's single
write-then-rename helper (`_publish`), through which every file that must survive a crash
is written: a message before its 250, and the compacted journal.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailferry.relay import Spool
from mailferry.relay import spool as spool_module
from testbed import free_port
from testbed.relaykit import RelayThread, load, message, write_config

Synced = list[str]  # the paths fsynced, in order


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Synced]:
    calls: Synced = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(spool_module.os, "fsync", recording_fsync)
    yield calls


def test_a_message_is_fsynced_and_its_directory_too_before_the_250(
    tmp_path: Path, synced: Synced, run_relay: Callable[..., RelayThread]
) -> None:
    relay = run_relay(load(write_config(tmp_path, old_port=free_port(), new_port=free_port())))
    raw = message(1, size=5000)
    with smtplib.SMTP("127.0.0.1", relay.port) as client:
        client.ehlo("client.example")
        client.mail("sender@outside.example")
        client.rcpt("alice@bank.example")
        code, reply = client.data(raw)
        seen_at_250 = list(synced)
    assert code == 250
    spool_id = reply.decode().rsplit(" ", 1)[1]
    spool = tmp_path / "spool"
    # the file was fsynced where it was written, then renamed, then msg/ was fsynced
    tmp_file, final_dir = str(spool / "tmp" / f"{spool_id}.msg"), str(spool / "msg")
    assert tmp_file in seen_at_250, seen_at_250
    assert final_dir in seen_at_250[seen_at_250.index(tmp_file):], seen_at_250
    stored = (spool / "msg" / f"{spool_id}.msg").read_bytes()
    assert stored.endswith(raw) and b"\r\n\tby relay.bank.example (mailferry)" in stored


def test_the_compacted_journal_is_fsynced_before_it_replaces_the_old_one(
    tmp_path: Path, synced: Synced
) -> None:
    spool = Spool(tmp_path, tmp_name="tmp-delivery")
    assert spool.open_for_delivery(wait=0) == {}
    spool.close()
    journal_new, root = str(tmp_path / "journal.new"), str(tmp_path)
    assert synced[:2] == [journal_new, root]
