"""Helpers for mirror tests: the user's work on the old server, done with stdlib imaplib as a
mail client would (never mailferry's code), runs of the engine or the real CLI, and the
check that the target holds what the source holds, read back from both servers by the test
bed (testbed.snapshot), independently of mailferry."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot, SeedMessage, imap_login, read_folder, seed, snapshot

MAILFERRY = [sys.executable, "-m", "mailferry"]


def account(server: Dovecot, user: str = "alice", *, port: int | None = None) -> Account:
    endpoint = parse_mailbox_url(f"imap://{user}@{server.host}:{port or server.port}")
    return Account(endpoint, Credentials(user, server.password(user)), TlsPolicy())


def run_copy(source: Dovecot, target: Dovecot, state: Path, *, target_port: int | None = None,
             **options: Any) -> CopySummary:
    store = StateStore.open(state, readonly=bool(options.get("dry_run")))
    try:
        return MailboxCopy(imap_source(account(source)), account(target, port=target_port),
                           store, CopyOptions(**options)).run()
    finally:
        store.close()


def run_cli(args: Sequence[str], source: Dovecot, target: Dovecot, *,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command; `copy` takes alice's passwords from the environment."""
    env = dict(os.environ)
    if any(u.name == "alice" for u in source.users):
        env.update(MAILFERRY_SOURCE_PASSWORD=source.password(),
                   MAILFERRY_TARGET_PASSWORD=target.password())
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=cwd, stdin=subprocess.DEVNULL)


def put(server: Dovecot, messages: Sequence[SeedMessage], user: str = "alice") -> None:
    """APPEND as a mail client or a delivery would (the test bed's imaplib seeding)."""
    conn = imap_login(server.host, server.port, user, server.password(user))
    try:
        seed(conn, messages)
    finally:
        conn.logout()


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
    """migration.toml (a whole migration: its cutover matters here), users.csv (user ->
    wave) and secrets.csv, every user with the same password on both servers."""
    (root / "migration.toml").write_text(f"""\
[migration]
name = "bank"
domains = ["bank.example"]
timezone = "Europe/Berlin"
cutover = {cutover}

[source]
imap = "imap://127.0.0.1:{source.port}"
auth = "password"

[target]
imap = "imap://127.0.0.1:{target.port}"
auth = "password"

[users]
file = "users.csv"
secrets = "secrets.csv"

[sync]
state = "state.db"
backoff = 0.05
{extra}""")
    (root / "users.csv").write_text("source_user,target_user,department,wave\n" + "".join(
        f"{name},{name},,{wave}\n" for name, wave in waves.items()))
    (root / "secrets.csv").write_text("user,source_password,target_password\n" + "".join(
        f"{name},{source.password(name)},{target.password(name)}\n" for name in waves))
    return root / "migration.toml"
