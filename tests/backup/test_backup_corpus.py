"""The whole real-world corpus (1,032 messages, malformed ones included) through backup and
restore into a fresh server, compared byte for byte."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mailferry.backup import Codec, backup_source, check_backup
from mailferry.verify import verify_mailbox
from testbed import Dovecot, SeedMessage
from testbed.backupkit import account, backup, mailbox, mailbox_dir, put, restore
from testbed.corpus import corpus_files


def test_realworld_corpus_survives_backup_and_restore(source: Dovecot, target: Dovecot,
                                                      tmp_path: Path) -> None:
    files = corpus_files()
    date = dt.datetime(2014, 7, 1, 8, 0, tzinfo=dt.UTC)
    put(source, [SeedMessage(f.read_bytes(), f.parent.name, ("\\Seen",) if n % 3 else (),
                             date + dt.timedelta(hours=n)) for n, f in enumerate(files)])
    original = mailbox(source)
    assert sum(sum(c.values()) for c in original.values()) == len(files)

    codec = Codec("zstd", bytes(range(32)))
    summary = backup(source, tmp_path, codec)
    assert summary.total("fetched") == len(files)
    directory = mailbox_dir(source, tmp_path)
    assert check_backup(directory, codec.key).ok

    restored = restore(directory, target, tmp_path / "state.db", codec.key)
    # the source server already stored each message as it serves it, so nothing is altered
    assert restored.ok and not restored.failures, restored.to_json()
    after = mailbox(target)
    for folder, content in original.items():
        assert after.get(folder) == content, folder
    # and the proof, from the backup's side: every message's sha256, flags and date agree
    proof = verify_mailbox(backup_source(directory, codec.key), account(target), deep=True)
    assert proof.ok, proof.to_json()["differences"][:5]
    assert sum(f.source_messages for f in proof.folders) == len(files)
