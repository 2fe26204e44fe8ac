"""Helpers for mirror tests: the user's work on the old server, done with stdlib imaplib as a
mail client would (never mailferry's code), runs of the engine or the real CLI, and the
check that the target holds what the source holds, read back from both servers by the test
bed (testbed.snapshot), independently of mailferry."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from testbed import Dovecot, imap_login, read_folder, snapshot
from testbed.basekit import MAILFERRY, account, put, run_copy
from testbed.projects import migration_section, write_sync_project

__all__ = ["MAILFERRY", "Client", "account", "assert_mirrored", "mailbox", "put", "run_cli",
           "run_copy", "write_project"]

def run_cli(args: Sequence[str], source: Dovecot, target: Dovecot, *,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command; `copy` takes alice's passwords from the environment."""
    env = dict(os.environ)
    if any(u.name == "alice" for u in source.users):
        env.update(MAILFERRY_SOURCE_PASSWORD=source.password(),
                   MAILFERRY_TARGET_PASSWORD=target.password())
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=cwd, stdin=subprocess.DEVNULL)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Client:
    """The user at work in a mail client: moves, deletes, flags, empties the trash."""

    def __init__(self, server: Dovecot, user: str = "alice") -> None:
        self.conn = imap_login(server.host, server.port, user, server.password(user))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.logout()

    def uids(self, folder: str) -> list[int]:
        typ, data = self.conn.select(_quote(folder))
        assert typ == "OK", data
        typ, data = self.conn.uid("SEARCH", "ALL")
        assert typ == "OK", data
        return sorted(int(x) for x in data[0].split())

    def move(self, folder: str, uids: Sequence[int], to: str) -> None:
        self.conn.select(_quote(folder))
        typ, data = self.conn.uid("MOVE", _set(uids), _quote(to))
        assert typ == "OK", data

    def delete(self, folder: str, uids: Sequence[int]) -> None:
        """Deleted and expunged (by UID: nothing else in the folder goes)."""
        self.conn.select(_quote(folder))
        typ, data = self.conn.uid("STORE", _set(uids), "+FLAGS.SILENT", "(\\Deleted)")
        assert typ == "OK", data
        typ, data = self.conn.uid("EXPUNGE", _set(uids))
        assert typ == "OK", data

    def empty(self, folder: str) -> None:
        uids = self.uids(folder)
        if uids:
            self.delete(folder, uids)

    def flag(self, folder: str, uids: Sequence[int], change: str, flags: str) -> None:
        self.conn.select(_quote(folder))
        typ, data = self.conn.uid("STORE", _set(uids), change, f"({flags})")
        assert typ == "OK", data

    def drop_folder(self, folder: str) -> None:
        self.conn.select("INBOX")
        typ, data = self.conn.delete(_quote(folder))
        assert typ == "OK", data


def _set(uids: Sequence[int]) -> str:
    assert uids
    return ",".join(str(u) for u in uids)


Mailbox = dict[str, Counter[tuple[str, frozenset[str], str]]]


def mailbox(server: Dovecot, user: str = "alice") -> Mailbox:
    """Folder -> multiset of (sha256 of BODY[], flags, INTERNALDATE); empty folders left out
    (the target keeps a folder the source deleted, emptied)."""
    return {name: messages for name, messages in
            snapshot(server.host, server.port, user, server.password(user)).items() if messages}


def assert_mirrored(source: Dovecot, target: Dovecot, *, user: str = "alice",
                    target_only: dict[str, list[bytes]] | None = None) -> None:
    """The target holds exactly what the source holds, plus `target_only` (raw messages per
    folder that reached the target some other way: never touched)."""
    expected = mailbox(source, user)
    found = mailbox(target, user)
    conn = imap_login(target.host, target.port, user, target.password(user))
    try:
        for folder, raws in (target_only or {}).items():
            bodies = {m.body: m for m in read_folder(conn, folder)}
            for raw in raws:
                stored = bodies.get(raw)
                assert stored is not None, f"the target-only message in {folder} is gone"
                key = (stored.sha256, stored.flags, stored.internaldate)
                found[folder][key] -= 1
                if not found[folder][key]:
                    del found[folder][key]
                if not found[folder]:
                    del found[folder]
    finally:
        conn.logout()
    assert found.keys() == expected.keys()
    for folder in expected:
        missing = expected[folder] - found[folder]
        extra = found[folder] - expected[folder]
        assert not missing and not extra, (folder, len(missing), len(extra))


def write_project(root: Path, source: Dovecot, target: Dovecot, waves: dict[str, str],
                  *, cutover: str, extra: str = "") -> Path:
    """A whole migration (its cutover matters here) for the users of `waves` (user ->
    wave), every user with their own password on each server."""
    users = [(name, source.password(name), target.password(name)) for name in waves]
    return write_sync_project(root, source.port, target.port, users, waves=waves,
                              head=migration_section(cutover), extra=extra)
