"""No folder disappears: every folder ends with a result. An error nobody expected fails its
folder with its message (the traceback goes to the log file), the run exits 1 and a project
user is never "synced"; a folder the target refuses to create fails alone."""

from __future__ import annotations

import json
from pathlib import Path

from mailferry.store import ProjectState
from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.copykit import folders, mailbox, run_cli, write_project
from testbed.messages import sample_mailbox
from testbed.scripted_imap import Command, ScriptedImap

SOURCE_ENV = {"MAILFERRY_SOURCE_PASSWORD": "alice-pw"}


def message(n: int) -> bytes:
    return b"Message-ID: <f%d@example.org>\r\nSubject: f %d\r\n\r\nbody %d\r\n" % (n, n, n)


def source_with(*names: str) -> ScriptedImap:
    server = ScriptedImap()
    for index, name in enumerate(names):
        for n in range(3):
            server.folder(name).add(message(10 * index + n))
    return server


def inbox_count(target: Dovecot, folder: str = "INBOX") -> int:
    conn = imap_login(target.host, target.port, "alice", "alice-pw")
    try:
        _, data = conn.select(f'"{folder}"', readonly=True)
        return int(data[0] or 0)
    finally:
        conn.logout()


def uidnext_too_large_for_the_store(command: Command) -> None:
    """EXAMINE of "Odd" says UIDNEXT 2^70: a number IMAP never sends, which the state store
    cannot hold, so the client fails where nobody expected it to."""
    if command.args and command.args[0] == b"Odd":
        folder = command.server.folder("Odd")
        command.conn.selected = folder
        command.send(b"* %d EXISTS\r\n" % len(folder.messages),
                     b"* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT %d] ok\r\n" % (1 << 70))
        command.ok("[READ-ONLY] examined")
        return
    command.conn.standard(command)


def test_an_unexpected_error_fails_its_folder_and_the_run(target: Dovecot,
                                                          tmp_path: Path) -> None:
    server = source_with("INBOX", "Odd")
    server.script("EXAMINE", uidnext_too_large_for_the_store)
    log = tmp_path / "run.log"
    with server:
        result = run_cli(["copy", server.url(), target.url(), "--state", str(tmp_path / "s.db"),
                          "--json", "--log-file", str(log)], target=target, env=SOURCE_ENV)
    assert result.returncode == 1, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    status = {f["source"]: (f["status"], f["error"]) for f in report["folders"]}
    assert status["INBOX"] == ("synced", None)
    assert status["Odd"][0] == "failed" and "unexpected error" in status["Odd"][1], status
    assert "Traceback" in log.read_text()
    assert inbox_count(target) == 3


def test_a_project_user_with_a_failed_folder_is_never_synced(target: Dovecot,
                                                             tmp_path: Path) -> None:
    server = source_with("INBOX", "Odd")
    server.script("EXAMINE", uidnext_too_large_for_the_store)
    project = write_project(tmp_path, server.port, target.port,
                            [("alice", "alice-pw", "alice-pw")])
    with server:
        result = run_cli(["sync", str(project), "--json"])
    assert result.returncode == 1, (result.stdout, result.stderr)
    outcome = json.loads(result.stdout)["mailboxes"]["alice"]
    assert outcome["status"] == "failed" and "Odd" in outcome["error"], outcome
    with ProjectState.open(tmp_path / "state.db") as state:
        assert state.records()["alice"].status == "failed"


def test_a_folder_the_target_refuses_to_create_fails_alone(target: Dovecot,
                                                           tmp_path: Path) -> None:
    # Dovecot refuses a name with a ".." level; the other folders are copied all the same
    with source_with("INBOX", "Work", "Trips/../Paris") as server:
        result = run_cli(["copy", server.url(), target.url(), "--state", str(tmp_path / "s.db"),
                          "--json"], target=target, env=SOURCE_ENV)
    assert result.returncode == 1, (result.stdout, result.stderr)
    status = {f["source"]: (f["status"], f["error"] or "") for f in
              json.loads(result.stdout)["folders"]}
    assert status["INBOX"][0] == status["Work"][0] == "synced", status
    assert status["Trips/../Paris"][0] == "failed" and "Invalid mailbox name" in status[
        "Trips/../Paris"][1], status
    assert inbox_count(target) == 3 and inbox_count(target, "Work") == 3


def test_a_missing_file_in_a_backup_fails_its_folder_not_silently(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    seed(conn, sample_mailbox(12, ["INBOX", "Work"]) + [
        SeedMessage(message(n), "Work") for n in range(3)])
    conn.logout()
    root = tmp_path / "backup"
    done = run_cli(["backup", source.url(), str(root), "--compress", "zstd"], source=source)
    assert done.returncode == 0, done.stderr
    (victim, *_) = sorted((root / f"alice@{source.host}" / "Work" / "cur").iterdir())
    victim.unlink()  # lost from the backup medium
    result = run_cli(["restore", str(root), target.url(), "--state", str(tmp_path / "s.db"),
                      "--json"], target=target)
    assert result.returncode == 1, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    listed = {f["source"]: f["status"] for f in report["folders"]}
    assert listed.get("INBOX") == "synced" and "Work" in listed, report["folders"]
    assert listed["Work"] == "failed" or report["failures"], report
    want = mailbox(source)
    got = mailbox(target)
    assert got["INBOX"] == want["INBOX"]
    assert sum(got["Work"].values()) < sum(want["Work"].values())  # the lost one is not in
    assert set(folders(target)) >= {"INBOX", "Work"}
