"""`mailferry dedupe` on real Dovecot: duplicates planted in a migrated target mailbox (the
same bytes again, with other flags, in two folders), beside look-alikes that are not
duplicates (same header, another body). A dry run says what it would remove and changes
nothing; --apply refuses without a backup; with one, exactly one of each message is left,
the oldest UID with the flags of all, the look-alikes stay, the backup holds what went, and
the source (with duplicates of its own) is never touched. A mailbox whose lease another run
holds (the lease `sync` takes) is refused, or waited for with --wait."""

from __future__ import annotations

import imaplib
import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from mailferry.batch import account_urls
from mailferry.project import load, load_users
from mailferry.store import StateStore, mailbox_lease_key
from testbed import MAILFERRY, Dovecot, DovecotUser, imap_login, read_folder, seed, snapshot
from testbed.projectkit import seeded_project
from testbed.seed import SeedMessage


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "100", "MAILFERRY_NO_LOG": "1"})


def login(server: Dovecot, user: DovecotUser) -> imaplib.IMAP4:
    return imap_login(server.host, server.port, user.name, user.password)


def plant(server: Dovecot, user: DovecotUser) -> list[str]:
    """Append again (same bytes and date, other flags) the first two messages of INBOX and
    the first of Projects, that one twice; plus, in INBOX, a look-alike of the third (its
    header, another body). Returns the sha256 of the INBOX messages appended again."""
    conn = login(server, user)
    try:
        inbox, projects = read_folder(conn, "INBOX"), read_folder(conn, "Projects")
        again = [SeedMessage(m.body, "INBOX", ("\\Flagged", "$PlantedCopy")) for m in inbox[:2]]
        again += [SeedMessage(projects[0].body, "Projects", ("$Label1",))] * 2
        head = inbox[2].body.split(b"\r\n\r\n", 1)[0]
        seed(conn, [*again, SeedMessage(head + b"\r\n\r\nanother body\r\n", "INBOX")],
             create=False)
    finally:
        conn.logout()
    return [m.sha256 for m in inbox[:2]]


def messages_of(server: Dovecot, user: DovecotUser) -> dict[str, Counter[str]]:
    """Folder -> multiset of sha256 of the whole message."""
    return {folder: Counter(sha for sha, _flags, _date in box.elements())
            for folder, box in snapshot(server.host, server.port, user.name,
                                        user.password).items()}


def extra_copies(server: Dovecot, user: DovecotUser) -> int:
    """Messages held more than once in a folder, counted from what imaplib reads back (the
    sample mailboxes hold some such of their own: they count too)."""
    return sum(n - 1 for box in messages_of(server, user).values() for n in box.values())


def test_dry_run_then_a_real_run_with_a_backup_leaves_one_of_each(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users, source, target, project = seeded_project(dovecot_factory, tmp_path, 2,
                                                    messages=12)
    assert cli("sync", "-p", str(project.toml)).returncode == 0
    flagged = plant(target, users[0])
    plant(source, users[0])  # the source has duplicates too: they must stay
    extra = {u.name: extra_copies(target, u) for u in users}
    source_before = {u.name: snapshot(source.host, source.port, u.name, u.password)
                     for u in users}
    target_before = {u.name: snapshot(target.host, target.port, u.name, u.password)
                     for u in users}
    conn = login(target, users[0])
    inbox_before = {m.sha256: m for m in sorted(read_folder(conn, "INBOX"),
                                                key=lambda m: -m.uid)}  # lowest UID wins
    conn.logout()

    # a dry run (the default) says what it would remove and changes nothing
    dry = cli("dedupe", "-p", str(project.toml), "--json")
    assert dry.returncode == 0, dry.stderr
    found = json.loads(dry.stdout)
    assert found["dry_run"]
    assert {u: m["duplicates"] for u, m in found["mailboxes"].items()} == extra
    shown = cli("dedupe", "-p", str(project.toml))
    assert f"{users[0].name}: would remove {extra[users[0].name]} duplicates" in shown.stdout
    assert "nothing was changed" in shown.stdout
    assert {u.name: snapshot(target.host, target.port, u.name, u.password)
            for u in users} == target_before

    # --apply without a backup, or a backup option without --apply: refused, exit 2
    for args in (["--apply"], ["--backup", str(tmp_path / "b")], ["--no-backup"]):
        refused = cli("dedupe", "-p", str(project.toml), *args)
        assert refused.returncode == 2 and refused.stdout == "", args
        assert refused.stderr.startswith("mailferry: error: --")
        assert len(refused.stderr.splitlines()) == 1, refused.stderr
    assert {u.name: snapshot(target.host, target.port, u.name, u.password)
            for u in users} == target_before

    # the real run: exactly one of each message is left, look-alikes stay
    done = cli("dedupe", "-p", str(project.toml), "--apply", "--backup",
               str(tmp_path / "backups"), "--json")
    assert done.returncode == 0, done.stderr
    removed = {u: m["removed"] for u, m in json.loads(done.stdout)["mailboxes"].items()}
    assert removed == extra
    for user in users:
        after = messages_of(target, user)
        before = {folder: Counter(sha for sha, _f, _d in box.elements())
                  for folder, box in target_before[user.name].items()}
        for folder, box in before.items():
            assert set(after[folder]) == set(box), folder  # nothing distinct went
            assert all(n == 1 for n in after[folder].values()), (folder, after[folder])
    # the oldest copy kept, with the flags of all its copies
    conn = login(target, users[0])
    inbox_after = {m.sha256: m for m in read_folder(conn, "INBOX")}
    conn.logout()
    for sha, kept in inbox_after.items():
        assert kept.uid == inbox_before[sha].uid
    for sha in flagged:  # the flags only the removed copies had are on the one kept
        assert "$PlantedCopy" not in inbox_before[sha].flags
        assert {"\\Flagged", "$PlantedCopy"} <= inbox_after[sha].flags
    # each mailbox changed has its backup (checked to hold what went); the source untouched
    backups = sorted((tmp_path / "backups").iterdir())
    assert len(backups) == sum(1 for n in extra.values() if n)
    assert users[0].name in backups[0].name
    assert cli("backup", "--verify", str(tmp_path / "backups")).returncode == 0
    assert {u.name: snapshot(source.host, source.port, u.name, u.password)
            for u in users} == source_before
    # nothing left to remove
    again = json.loads(cli("dedupe", "-p", str(project.toml), "--json").stdout)
    assert all(m["duplicates"] == 0 for m in again["mailboxes"].values())


def test_a_mailbox_another_run_holds_is_refused_or_waited_for(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    users, _, target, project = seeded_project(dovecot_factory, tmp_path, 1,
                                               messages=6)
    assert cli("sync", "-p", str(project.toml)).returncode == 0
    plant(target, users[0])
    planted = extra_copies(target, users[0])
    settings = load(project.toml).sync
    key = mailbox_lease_key(account_urls(settings, load_users(settings.users_file)[0])[1])
    before = snapshot(target.host, target.port, users[0].name, users[0].password)
    store = StateStore.open(project.root / "state.db")
    try:
        elsewhere = store.leases.acquire(key)  # another run holds the mailbox
        # it is the lease sync takes: a sync now skips the mailbox as well
        synced = cli("sync", "-p", str(project.toml))
        assert synced.returncode == 1 and "in progress elsewhere" in synced.stderr
        refused = cli("dedupe", "-p", str(project.toml), "--apply", "--no-backup")
        assert refused.returncode == 1
        assert "in progress elsewhere" in refused.stdout and "--wait" in refused.stdout
        assert snapshot(target.host, target.port, users[0].name, users[0].password) == before

        waiting = subprocess.Popen(
            [*MAILFERRY, "dedupe", "-p", str(project.toml), "--apply", "--no-backup", "--wait",
             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "MAILFERRY_NO_LOG": "1"})
        assert waiting.stderr is not None
        said = waiting.stderr.readline()
        assert "waiting for it" in said, said
        assert snapshot(target.host, target.port, users[0].name, users[0].password) == before
        elsewhere.release()
        out, err = waiting.communicate(timeout=300)
        assert waiting.returncode == 0, err
        assert json.loads(out)["mailboxes"][users[0].name]["removed"] == planted
    finally:
        store.close()
    after = messages_of(target, users[0])
    assert all(n == 1 for box in after.values() for n in box.values())
