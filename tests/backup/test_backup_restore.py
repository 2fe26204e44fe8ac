"""Backup a real mailbox, restore it into a fresh server: bytes, flags, dates, folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mailferry.backup import Codec, check_backup
from testbed import Dovecot
from testbed.backupkit import backup, mailbox, mailbox_dir, put, restore
from testbed.messages import sample_mailbox

FOLDERS = ["INBOX", "Work", "Work/Projects", "Caf&AOk-", "Sent"]


@pytest.mark.parametrize("codec", [Codec(), Codec("zstd", bytes(range(32))), Codec("gzip")],
                         ids=["plain", "zstd+aes", "gzip"])
def test_backup_then_restore_is_exact_and_incremental(source: Dovecot, target: Dovecot,
                                                      tmp_path: Path, codec: Codec) -> None:
    put(source, sample_mailbox(80, FOLDERS))
    root = tmp_path / "backup"
    first = backup(source, root, codec)
    original = mailbox(source)
    assert first.total("fetched") == sum(sum(c.values()) for c in original.values())
    directory = mailbox_dir(source, root)
    assert check_backup(directory, codec.key).ok

    summary = restore(directory, target, tmp_path / "state.db", codec.key)
    assert summary.ok, summary.to_json()
    restored = mailbox(target)
    for folder, content in original.items():
        assert restored.get(folder, {}) == content, folder

    # a re-run fetches only what is new, and a restore re-run copies nothing
    new = sample_mailbox(5, ["Work"], seed=99)
    put(source, new)
    again = backup(source, root, codec)
    assert again.total("fetched") == len(new)
    assert {f.folder: f.status for f in again.folders}["INBOX"] == "unchanged"
    rerun = restore(directory, target, tmp_path / "state.db", codec.key)
    assert rerun.ok and rerun.total("copied") == len(new)
    assert mailbox(target)["Work"] == mailbox(source)["Work"]


def test_plain_backup_is_a_readable_maildir_with_a_checkable_manifest(
        source: Dovecot, tmp_path: Path) -> None:
    put(source, sample_mailbox(20, ["INBOX", "Caf&AOk-"]))
    backup(source, tmp_path)
    directory = mailbox_dir(source, tmp_path)
    lines = [json.loads(x) for x in (directory / "manifest.jsonl").read_text().splitlines()]
    messages = [r for r in lines if r["type"] == "message"]
    assert messages
    for record in messages:
        path = directory / record["file"]
        assert path.parent.name == "cur"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"]
        info = path.name.split(":2,")[1]
        assert ("S" in info) == ("\\Seen" in record["flags"])
    assert (directory / "Café" / "cur").is_dir()  # folder names as the user reads them
    digest, name = (directory / "manifest.jsonl.sha256").read_text().split()
    assert name == "manifest.jsonl"
    assert digest == hashlib.sha256((directory / "manifest.jsonl").read_bytes()).hexdigest()
