"""`restore` trusts nothing it reads: every message is checked against its manifest record
before it is uploaded, no manifest path leads out of the backup, and an encrypted backup's
manifest is authenticated with the key. Each case is restored into a real Dovecot through
the real CLI, and what arrived is read back with imaplib."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from testbed import Dovecot
from testbed.backupkit import mailbox, mailbox_dir, put, run_cli
from testbed.messages import sample_mailbox

pytestmark = pytest.mark.slow  # restores from tampered backups: `make test-slow`

FOLDERS = ["INBOX", "Work"]
KEY = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=\n"  # base64 of 32 bytes


def _backup(source: Dovecot, tmp_path: Path, *options: str) -> tuple[Path, Path]:
    """(mailbox directory of a fresh backup, the state file a restore uses)."""
    put(source, sample_mailbox(24, FOLDERS, seed=11))
    root = tmp_path / "backup"
    done = run_cli(["backup", source.url(), str(root), *options], source=source)
    assert done.returncode == 0, done.stderr
    return mailbox_dir(source, root), tmp_path / "state.db"


def _key_file(tmp_path: Path) -> Path:
    key = tmp_path / "backup.key"
    key.write_text(KEY)
    return key


def _records(directory: Path) -> list[dict[str, object]]:
    lines = (directory / "manifest.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == "message"]


def _rewrite_manifest(directory: Path, records: list[dict[str, object]]) -> None:
    """What someone who can write the backup but has no key can do: edit the manifest and
    recompute its (unkeyed) sha256."""
    others = [r for r in map(json.loads, (directory / "manifest.jsonl").read_text()
                             .splitlines()) if r["type"] != "message"]
    data = b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in records + others)
    (directory / "manifest.jsonl").write_bytes(data)
    (directory / "manifest.jsonl.sha256").write_text(
        f"{hashlib.sha256(data).hexdigest()}  manifest.jsonl\n")


def _restore(directory: Path, target: Dovecot, state: Path, *extra: str) -> tuple[int, dict, str]:
    done = run_cli(["restore", str(directory), target.url(), "--state", str(state), "--json",
                    *extra], target=target)
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def _stored(server: Dovecot) -> Counter[str]:
    """sha256 of every message in the server, all folders."""
    return Counter(sha for folder in mailbox(server).values()
                   for (sha, _flags, _date), n in folder.items() for _ in range(n))


def _by_sha(source: Dovecot) -> dict[str, tuple[str, frozenset[str], str]]:
    return {sha: (name, flags, date) for name, folder in mailbox(source).items()
            for (sha, flags, date) in folder}


@pytest.mark.parametrize("compress", ["none", "zstd"])
def test_a_flipped_byte_fails_that_message_and_restores_the_rest(
        compress: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    directory, state = _backup(source, tmp_path, "--compress", compress)
    victim = next(r for r in _records(directory) if r["folder"] == ["Work"])
    path = directory / str(victim["file"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))

    code, report, err = _restore(directory, target, state)
    assert code == 1, err
    (failure,) = report["failures"]
    assert failure["kind"] == "unreadable" and failure["uid"] == victim["uid"]
    assert str(victim["file"]) in failure["reason"]
    want = _stored(source)
    want[str(victim["sha256"])] -= 1
    assert _stored(target) == +want  # every other message, and no damaged one
    again, report, _ = _restore(directory, target, state)  # still failing, still listed
    assert again == 1 and [f["uid"] for f in report["failures"]] == [victim["uid"]]


def test_two_swapped_files_are_caught_not_restored_under_each_others_records(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    directory, state = _backup(source, tmp_path)
    first, second = [r for r in _records(directory) if r["folder"] == ["Work"]][:2]
    a, b = directory / str(first["file"]), directory / str(second["file"])
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)

    code, report, err = _restore(directory, target, state)
    assert code == 1, err
    assert sorted(f["uid"] for f in report["failures"]) == sorted(
        [first["uid"], second["uid"]])
    assert {f["kind"] for f in report["failures"]} == {"unreadable"}
    stored = _stored(target)
    assert not stored[str(first["sha256"])] and not stored[str(second["sha256"])]
    # the others arrived with their own flags and dates
    expected = _by_sha(source)
    for name, folder in mailbox(target).items():
        for sha, flags, date in folder:
            assert expected[sha] == (name, flags, date)


@pytest.mark.parametrize("path", ["../../outside-secret.txt", "/tmp/outside-secret.txt"])
def test_a_manifest_path_out_of_the_backup_is_refused(
        path: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    directory, state = _backup(source, tmp_path)
    secret = b"Subject: not yours\r\n\r\nthe contents of a file outside the backup\r\n"
    outside = (directory / path).resolve() if not path.startswith("/") else Path(path)
    outside.write_bytes(secret)
    try:
        records = _records(directory)
        records[0].update(file=path, size=len(secret), sha256=hashlib.sha256(secret).hexdigest())
        _rewrite_manifest(directory, records)
        code, _, err = _restore(directory, target, state)
    finally:
        outside.unlink()
    assert code == 2, err
    assert "manifest.jsonl:" in err and "leaves the backup" in err
    assert not _stored(target)  # nothing half-done, and never the outside file


def test_a_symbolic_link_out_of_the_backup_is_not_followed(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    directory, state = _backup(source, tmp_path)
    victim = _records(directory)[0]
    outside = tmp_path / "outside-secret.eml"
    secret = b"Subject: not yours\r\n\r\nsecret\r\n"
    outside.write_bytes(secret)
    link = directory / str(victim["file"])
    link.unlink()
    link.symlink_to(outside)
    records = _records(directory)  # and a record that would let the secret verify
    records[0].update(size=len(secret), sha256=hashlib.sha256(secret).hexdigest())
    _rewrite_manifest(directory, records)

    code, report, err = _restore(directory, target, state)
    assert code == 1, err
    (failure,) = report["failures"]
    assert "leads out of the backup" in failure["reason"]
    assert hashlib.sha256(secret).hexdigest() not in _stored(target)
    assert sum(_stored(target).values()) == sum(_stored(source).values()) - 1


@pytest.mark.parametrize("edit", ["remove a record", "change flags"])
def test_a_tampered_encrypted_manifest_is_refused(
        edit: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    key = _key_file(tmp_path)
    directory, state = _backup(source, tmp_path, "--compress", "zstd", "--key-file", str(key))
    records = _records(directory)
    if edit == "remove a record":
        del records[3]
    else:
        records[3]["flags"] = ["\\Deleted"]
    _rewrite_manifest(directory, records)  # its sha256 matches again: only the HMAC can tell

    code, _, err = _restore(directory, target, state, "--key-file", str(key))
    assert code == 2, err
    assert "does not match manifest.jsonl.hmac" in err
    assert not _stored(target)
    check = run_cli(["backup", "--verify", str(directory), "--key-file", str(key), "--json"])
    assert check.returncode == 1
    assert [p["kind"] for p in json.loads(check.stdout)["mailboxes"][0]["problems"]] == [
        "manifest"]


def test_an_encrypted_backup_from_before_authenticated_manifests(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """Refused by restore until `backup --verify` has checked every file and vouched for
    the manifest; a manifest whose HMAC file was removed is such a backup too."""
    key = _key_file(tmp_path)
    directory, state = _backup(source, tmp_path, "--compress", "zstd", "--key-file", str(key))
    (directory / "manifest.jsonl.hmac").unlink()
    settings = json.loads((directory / "backup.json").read_text())
    settings["version"] = 1
    settings.pop("manifest_auth", None)
    (directory / "backup.json").write_text(json.dumps(settings))

    code, _, err = _restore(directory, target, state, "--key-file", str(key))
    assert code == 2 and "not authenticated" in err and "backup --verify" in err
    assert not _stored(target)
    check = run_cli(["backup", "--verify", str(directory), "--key-file", str(key)])
    assert check.returncode == 0 and "manifest authenticated" in check.stdout, check.stdout
    code, _, err = _restore(directory, target, state, "--key-file", str(key))
    assert code == 0, err
    assert _stored(target) == _stored(source)


def test_a_key_for_a_backup_that_says_it_is_not_encrypted_is_refused(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    """Flipping backup.json to "not encrypted" must not turn off the manifest's HMAC."""
    key = _key_file(tmp_path)
    directory, state = _backup(source, tmp_path, "--key-file", str(key))
    settings = json.loads((directory / "backup.json").read_text())
    settings["encryption"] = None
    (directory / "backup.json").write_text(json.dumps(settings))
    code, _, err = _restore(directory, target, state, "--key-file", str(key))
    assert code == 2 and "not encrypted" in err
    assert not _stored(target)
