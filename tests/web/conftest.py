"""A project synced for real once per test session (per xdist worker); failed test calls
are marked for the browser tests' screenshots."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from testbed import Dovecot, SeedMessage, imap_login, seed
from testbed.messages import make_message
from testbed.webkit import (
    FAILED,
    MASTER,
    MIGRATION,
    XSS_DEPARTMENT,
    XSS_FOLDER_WIRE,
    XSS_USER,
    Project,
    SyncedProject,
    cli,
    cutover_in,
    fill,
    org_users,
    write_users,
)


@pytest.fixture(scope="session")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncedProject]:
    """3 real users (pilot: 2, wave1: 1), one message refused by the target (too large, in
    a folder whose name is HTML), and XSS_USER whose login the source refuses. `sync`, then
    `verify` of one user, as an admin would run them."""
    root = tmp_path_factory.mktemp("synced")
    users = org_users(3)
    with Dovecot(users=users) as source, \
            Dovecot(users=users, master=MASTER, max_message_size=30_000) as target:
        fill(source, users, messages=8, sizes=(800, 3000))
        conn = imap_login(source.host, source.port, users[1].name, users[1].password)
        seed(conn, [SeedMessage(make_message(random.Random(1), 1, attachment=60_000),
                                XSS_FOLDER_WIRE)])
        conn.logout()
        project = Project(root, source, target, users, waves={
            users[0].name: "pilot", users[1].name: "pilot", users[2].name: "wave1"},
            extra=MIGRATION.format(cutover=cutover_in(30))).write()
        write_users(project, [(XSS_USER, XSS_DEPARTMENT, "")])
        done = cli("sync", str(project.toml))
        assert done.returncode == 1, done.stderr  # the refused message, the refused login
        checked = cli("verify", "--project", str(project.toml), "--user", users[0].name)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        yield SyncedProject(project, users, done.returncode)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report
