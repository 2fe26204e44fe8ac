"""The real `mailferry backup` process SIGKILLed at chosen points of its work; the next run
leaves nothing behind: no file the manifest does not name, nothing in tmp/, every message of
the source once with its flags of now, and `backup --verify` finds no problem at all.

The kill points are chosen in the server's byte stream: a proxy in front of the source
holds the stream right after the n-th FETCH response started, so the backup has processed
exactly the n-1 messages before it; the test waits until their files are on disk, then kills.
- mid-batch on the first run: message files written, the batch not committed yet;
- mid flag update on a later run: files renamed for their new flags, not committed yet.
Between the kill and the next run some of the messages the killed run had written are
expunged from the source: their leftover files would never be overwritten by a later fetch,
so a run that does not clean up is seen.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, FaultProxy, imap_login, read_folder
from testbed.backupkit import MAILFERRY, mailbox_dir, put, run_cli
from testbed.messages import sample_mailbox


def _manifest_files(directory: Path) -> dict[str, str]:
    """file -> "folder/uid" for the current state of every message the manifest names."""
    named: dict[tuple[str, int], str] = {}
    for line in (directory / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["type"] in ("message", "flags"):
            named["/".join(record["folder"]), record["uid"]] = record["file"]
    return {file: f"{folder}/{uid}" for (folder, uid), file in named.items()}


def _disk_files(directory: Path, sub: str) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob(f"{sub}/*")}


def _wait_until(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, "the backup ended before the kill point"
        assert time.monotonic() < deadline, "the kill point was never reached"
        time.sleep(0.01)


def _kill_backup_at(source: Dovecot, root: Path, nth_fetch: int,
                    ready: Callable[[], bool]) -> None:
    """Run `mailferry backup` through a proxy that holds the stream at the nth FETCH
    response; once `ready()`, SIGKILL it."""
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": source.password()}
    with FaultProxy(source.host, source.port) as proxy:
        hold = proxy.hold_down_at(b" FETCH (", nth_fetch)
        url = f"imap://alice@{source.host}:{proxy.port}"
        with subprocess.Popen([*MAILFERRY, "backup", url, str(root)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
            try:
                _wait_until(hold.reached.is_set, process)
                _wait_until(ready, process)
                process.send_signal(signal.SIGKILL)
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
                hold.release()
            assert process.returncode == -signal.SIGKILL


def _expunge(source: Dovecot, folder: str, uids: list[int]) -> None:
    conn = imap_login(source.host, source.port, "alice", source.password())
    try:
        conn.select(folder)
        conn.uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT", "(\\Deleted)")
        conn.expunge()
    finally:
        conn.logout()


def _assert_complete_and_clean(source: Dovecot, root: Path, directory: Path) -> None:
    resumed = run_cli(["backup", source.url(), str(root)], source=source)
    assert resumed.returncode == 0, resumed.stderr
    named = _manifest_files(directory)
    assert _disk_files(directory, "cur") >= set(named)
    assert _disk_files(directory, "cur") == set(named), "files no record names were left"
    assert _disk_files(directory, "tmp") == set()
    check = run_cli(["backup", "--verify", str(root), "--json"])
    assert check.returncode == 0, check.stdout
    assert json.loads(check.stdout)["mailboxes"][0]["problems"] == []
    # the backup holds what the source holds now (messages never leave a backup, so the
    # expunged ones stay where they were committed before the kill)
    conn = imap_login(source.host, source.port, "alice", source.password())
    try:
        messages = read_folder(conn, "INBOX")
        assert len(messages) > 100
        for message in messages:
            file = next(f for f, key in named.items() if key == f"INBOX/{message.uid}")
            stored = (directory / file).read_bytes()
            assert stored == message.body, file
            info = file.split(":2,")[1]
            assert ("S" in info) == ("\\Seen" in message.flags), file
            assert ("F" in info) == ("\\Flagged" in message.flags), file
            assert ("D" in info) == ("\\Draft" in message.flags), file
    finally:
        conn.logout()


def test_killed_mid_batch_then_resumed_leaves_nothing_behind(source: Dovecot,
                                                              tmp_path: Path) -> None:
    put(source, sample_mailbox(160, ["INBOX"], sizes=(1000, 3000)))
    root = tmp_path / "backup"
    directory = mailbox_dir(source, root)

    def written() -> int:  # message files in cur/ that no committed record names yet
        if not (directory / "manifest.jsonl").exists():
            return 0
        return len(_disk_files(directory, "cur") - set(_manifest_files(directory)))

    # the 101st message's response has started: 100 are written, none committed (a batch
    # is 200 messages)
    _kill_backup_at(source, root, 101, lambda: written() >= 100)
    leftovers = _disk_files(directory, "cur") - set(_manifest_files(directory))
    assert len(leftovers) == 100
    # some of what the killed run wrote is deleted on the server before the next run
    uids = sorted(int(Path(f).name.split("-")[1].split(":")[0]) for f in leftovers)
    assert {Path(f).parts[0] for f in leftovers} == {"INBOX"}
    _expunge(source, "INBOX", uids[::3])
    _assert_complete_and_clean(source, root, directory)


def test_killed_mid_flag_update_then_resumed_leaves_nothing_behind(source: Dovecot,
                                                                   tmp_path: Path) -> None:
    put(source, sample_mailbox(160, ["INBOX"], sizes=(1000, 3000)))
    root = tmp_path / "backup"
    directory = mailbox_dir(source, root)
    first = run_cli(["backup", source.url(), str(root)], source=source)
    assert first.returncode == 0, first.stderr
    conn = imap_login(source.host, source.port, "alice", source.password())
    conn.select("INBOX")
    conn.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Draft)")  # no message had it: all renamed
    conn.logout()
    inbox_total = len(_disk_files(directory, "cur"))

    def renamed() -> int:  # files whose name the manifest does not know (yet)
        return len(_disk_files(directory, "cur") - set(_manifest_files(directory)))

    # only INBOX changed: its flag FETCH is the first FETCH of the run
    _kill_backup_at(source, root, 101, lambda: renamed() >= 100)
    assert renamed() == 100 and len(_disk_files(directory, "cur")) == inbox_total
    _expunge(source, "INBOX", [1, 2, 3])
    _assert_complete_and_clean(source, root, directory)
