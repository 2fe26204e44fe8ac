"""A damaged backup is detected; a backup killed with SIGKILL resumes with no duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from mailferry.backup.manifest import Manifest
from testbed import Dovecot
from testbed.backupkit import MAILFERRY, mailbox, mailbox_dir, put, run_cli
from testbed.messages import sample_mailbox

pytestmark = pytest.mark.slow  # backups damaged and killed: `make test-slow`

FOLDERS = ["INBOX", "Work", "Archive/2019"]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_corrupted_file_or_manifest_is_reported(source: Dovecot, tmp_path: Path,
                                                  encrypted: bool) -> None:
    put(source, sample_mailbox(30, FOLDERS))
    key = tmp_path / "backup.key"
    key.write_text("00" * 32 + "\n")
    options = ["--compress", "zstd", "--key-file", str(key)] if encrypted else []
    root = tmp_path / "backup"
    done = run_cli(["backup", source.url(), str(root), *options], source=source)
    assert done.returncode == 0, done.stderr
    check = ["backup", "--verify", str(root), "--json",
             *(["--key-file", str(key)] if encrypted else [])]
    clean = run_cli(check)
    assert clean.returncode == 0 and json.loads(clean.stdout)["ok"], clean.stdout

    directory = mailbox_dir(source, root)
    victim = sorted((directory / "Work" / "cur").iterdir())[3]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    victim.write_bytes(bytes(data))
    found = run_cli(check)
    assert found.returncode == 1
    problems = json.loads(found.stdout)["mailboxes"][0]["problems"]
    assert [(p["kind"], p["file"]) for p in problems] == [
        ("corrupt", str(victim.relative_to(directory)))]

    manifest = directory / "manifest.jsonl"
    manifest.write_bytes(manifest.read_bytes().replace(b'"size": ', b'"size": 1', 1))
    damaged = run_cli(check)
    assert damaged.returncode == 1 and "manifest" in damaged.stdout
    refused = run_cli(["backup", source.url(), str(root), *options], source=source)
    assert refused.returncode == 2 and "does not match" in refused.stderr


def test_backup_killed_with_sigkill_resumes_complete_without_duplicates(
        source: Dovecot, tmp_path: Path) -> None:
    put(source, sample_mailbox(900, FOLDERS, sizes=(4000, 30000)))
    root = tmp_path / "backup"
    directory = mailbox_dir(source, root)
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": source.password()}
    process = subprocess.Popen([*MAILFERRY, "backup", source.url(), str(root)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = directory / "manifest.jsonl"
    deadline = time.monotonic() + 60
    # kill once the first batches are committed, while files are still being written
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and manifest.stat().st_size > 60_000:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the backup finished before it was killed"
    written = sum(1 for line in manifest.read_text().splitlines() if '"message"' in line)
    # what the checksum file commits (a killed run may leave an uncommitted tail)
    committed = len(Manifest.load(directory).all_messages())
    expected = sum(sum(c.values()) for c in mailbox(source).values())
    assert 0 < committed <= written < expected

    resumed = run_cli(["backup", source.url(), str(root), "--json"], source=source)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["fetched"] == expected - committed
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    keys = Counter((tuple(r["folder"]), r["uid"]) for r in records if r["type"] == "message")
    assert len(keys) == expected and set(keys.values()) == {1}
    files = [p for p in directory.rglob("cur/*")]
    assert len(files) == expected
    check = run_cli(["backup", "--verify", str(root), "--json"])
    assert check.returncode == 0 and json.loads(check.stdout)["mailboxes"][0]["problems"] == []
