"""A migration project on real Dovecot servers: users on a source server (passwords from
secrets.csv), the same users on a target server reached through its master user, and the
migration.toml + users.csv + secrets.csv that `mailferry sync` reads."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mailferry.batch import (
    AccountFactory,
    BatchResult,
    BatchRunner,
    WindowSchedule,
    build_jobs,
    concurrency_for,
    select_mailboxes,
)
from mailferry.batch.schedule import utc_now
from mailferry.engine import FolderResult, Reporter, SilentReporter
from mailferry.project import MailboxUser, load, load_users
from mailferry.store import LeaseTimes, PassOutcome, ProjectState, StateStore
from testbed import Dovecot, DovecotUser, imap_login, seed, snapshot
from testbed.messages import make_message, random_flags, sample_mailbox
from testbed.seed import SeedMessage

MASTER = DovecotUser("admin", "master-secret")
DEPARTMENTS = ("sales", "support", "marketing", "development")
FOLDERS = ["INBOX", "Sent", "Trash", "Projects", "Projects/2024", "Caf&AOk-"]


def org_users(count: int, prefix: str = "u") -> list[DovecotUser]:
    return [DovecotUser(f"{prefix}{n:03d}", f"pw-{prefix}{n:03d}") for n in range(count)]


def start_pair(dovecot_factory: object, users: list[DovecotUser], **target: object,
               ) -> tuple[Dovecot, Dovecot]:
    source = dovecot_factory(users=users)  # type: ignore[operator]
    target_server = dovecot_factory(users=users, master=MASTER, **target)  # type: ignore[operator]
    return source, target_server


def fill(server: Dovecot, users: list[DovecotUser], *, messages: int = 12,
         sizes: tuple[int, int] = (800, 4000), seed_base: int = 0) -> None:
    for n, user in enumerate(users):
        conn = imap_login(server.host, server.port, user.name, user.password)
        try:
            seed(conn, sample_mailbox(messages, FOLDERS, seed=seed_base + n, sizes=sizes))
        finally:
            conn.logout()


def seeded_project(dovecot_factory: object, root: Path, count: int, *, messages: int,
                   ) -> tuple[list[DovecotUser], Dovecot, Dovecot, Project]:
    """`count` users with `messages` each on a source, an empty target, and the project
    that migrates them (written under `root`): what most project-level tests start from."""
    users = org_users(count)
    source, target = start_pair(dovecot_factory, users)
    fill(source, users, messages=messages)
    return users, source, target, Project(root, source, target, users).write()


def fill_in_parallel(server: Dovecot, users: list[DovecotUser], *, messages: int,
                     sizes: tuple[int, int], threads: int = 4) -> None:
    """`fill`, with the users split over a few threads (the benchmarks' hundreds of users)."""
    workers = [threading.Thread(target=fill, args=(server, users[n::threads]),
                                kwargs={"messages": messages, "sizes": sizes})
               for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def add_new_mail(server: Dovecot, user: DovecotUser, count: int, *, seed_value: int) -> None:
    rng = random.Random(seed_value)
    conn = imap_login(server.host, server.port, user.name, user.password)
    try:
        seed(conn, [SeedMessage(make_message(rng, 10_000 + n), "INBOX", random_flags(rng))
                    for n in range(count)])
    finally:
        conn.logout()


@dataclass
class Project:
    root: Path
    source: Dovecot
    target: Dovecot
    users: list[DovecotUser]
    source_port: int | None = None  # a proxy in front of the source
    target_port: int | None = None  # a proxy in front of the target
    extra: str = ""
    waves: dict[str, str] = field(default_factory=dict)  # user -> wave

    @property
    def toml(self) -> Path:
        return self.root / "migration.toml"

    def write(self) -> Project:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "master.pw").write_text(MASTER.password + "\n")
        self.toml.write_text(f"""\
[source]
imap = "imap://127.0.0.1:{self.source_port or self.source.port}"
auth = "password"
max_connections = 8

[target]
imap = "imap://127.0.0.1:{self.target_port or self.target.port}"
auth = "master"
master_user = "{MASTER.name}"
master_password = "file:master.pw"

[users]
file = "users.csv"
secrets = "secrets.csv"

[filters]
exclude_special = ["\\\\Trash"]

[sync]
state = "state.db"
backoff = 0.2
{self.extra}""")
        rows = ["source_user,target_user,department,wave"]
        rows += [f"{u.name},,{DEPARTMENTS[n % 4]},{self.waves.get(u.name, '')}"
                 for n, u in enumerate(self.users)]
        (self.root / "users.csv").write_text("\n".join(rows) + "\n")
        secrets = ["user,source_password,target_password"]
        secrets += [f"{u.name},{u.password}," for u in self.users]
        (self.root / "secrets.csv").write_text("\n".join(secrets) + "\n")
        return self


def without_trash(box: dict[str, Counter[tuple[str, frozenset[str], str]]],
                  ) -> dict[str, Counter[tuple[str, frozenset[str], str]]]:
    """What must arrive: every folder but Trash (excluded), empty folders ignored."""
    return {name: c for name, c in box.items() if name != "Trash" and c}


def assert_migrated(source: Dovecot, target: Dovecot, user: DovecotUser) -> None:
    """Every message, byte-identical with its flags and date, exactly once (a duplicate
    would double a count in the multiset); Trash did not move."""
    want = without_trash(snapshot(source.host, source.port, user.name, user.password))
    got = snapshot(target.host, target.port, user.name, user.password)
    assert not got.get("Trash"), f"{user.name}: Trash was copied"
    assert {k: v for k, v in got.items() if v} == want, user.name


class EventLog:
    """A BatchReporter that keeps what happened; `on_folder` runs at each finished folder."""

    def __init__(self, on_folder: Callable[[], None] | None = None) -> None:
        self.finished: list[tuple[str, str]] = []
        self.waited: list[str] = []
        self.busy: list[tuple[str, str]] = []
        self.on_folder = on_folder

    def batch_planned(self, mailboxes: int) -> None:
        pass

    def mailbox_started(self, user: MailboxUser) -> Reporter:
        log = self

        class _Folders(SilentReporter):
            def folder_finished(self, result: FolderResult) -> None:
                if log.on_folder is not None:
                    log.on_folder()

        return _Folders()

    def mailbox_finished(self, user: MailboxUser, outcome: PassOutcome) -> None:
        self.finished.append((user.source_user, outcome.status))

    def mailbox_busy(self, user: MailboxUser, holder: str, *, waiting: bool) -> None:
        self.busy.append((user.source_user, holder))

    def waiting_for_window(self, opens_at: str) -> None:
        self.waited.append(opens_at)


def run_batch(toml: Path, reporter: EventLog | None = None, *, wave: str | None = None,
              clock: Callable[[], dt.datetime] | None = None, wait_for_window: bool = False,
              stop: threading.Event | None = None) -> BatchResult:
    """What `mailferry sync` does, in-process (so tests can drive the clock)."""
    settings = load(toml).sync
    users = select_mailboxes(load_users(settings.users_file), wave=wave)
    concurrency = concurrency_for(settings, len(users))
    jobs = build_jobs(settings, users, AccountFactory(settings), concurrency.workers)
    schedule = WindowSchedule(settings.windows, settings.timezone, clock or utc_now)
    store = StateStore.open(settings.sync.state)
    try:
        with ProjectState.open(settings.sync.state) as state:
            runner = BatchRunner(store, state, concurrency, schedule, reporter or EventLog(),
                                 stop or threading.Event(), wait_for_window=wait_for_window,
                                 lease_times=LeaseTimes(settings.sync.lease_ttl))
            return runner.run(jobs)
    finally:
        store.close()
