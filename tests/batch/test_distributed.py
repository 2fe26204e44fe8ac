"""`sync --distributed` and `mailferry worker` on real servers: PostgreSQL for the store,
redis-server for the queue, Dovecot for the mail, several worker processes, one of them
SIGKILLed in the middle of a mailbox and another SIGTERMed. Every target ends equal to its
source, no message twice, no mailbox done twice, and the connection caps hold at the
servers' door for all workers together."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from testbed.distkit import Workers, capped, enqueue, mailferry, proxies, store_rows, wait_for
from testbed.postgres import Postgres
from testbed.projectkit import Project, assert_migrated, fill, org_users, start_pair
from testbed.redis import Redis

pytestmark = pytest.mark.distributed

CAP = 4  # connections per server, for all workers together
WORKERS = 2  # folders at once per mailbox: 2 mailboxes at once in the whole cluster


def project_for(tmp_path: Path, dovecot_factory: object, postgres: Postgres, redis: Redis,
                users: int, messages: int) -> tuple[Project, str]:
    people = org_users(users)
    source, target = start_pair(dovecot_factory, people)
    fill(source, people, messages=messages)
    url = postgres.new_database()
    project = Project(tmp_path / "p", source, target, people)
    extra = f'store = "{url}"\nbroker = "{redis.url}"\nlease_ttl = 6\n'
    project.extra = extra
    return project, url


def jobs(url: str, run: str) -> dict[str, tuple[str, int, int]]:
    """user -> (state, times marked done, times taken by a worker)"""
    rows = store_rows(url, "SELECT source_user, state, finishes, attempts FROM queue_jobs "
                           "WHERE run_id = :run", run=run)
    return {r.source_user: (r.state, r.finishes, r.attempts) for r in rows}


def test_workers_killed_and_stopped_midway_lose_nothing_and_copy_nothing_twice(
        tmp_path: Path, dovecot_factory: object, postgres: Postgres, redis_server: Redis,
) -> None:
    project, url = project_for(tmp_path, dovecot_factory, postgres, redis_server, 40, 30)
    source_door, target_door = proxies(project)
    capped(project.write(), CAP, WORKERS)
    run = enqueue(project)
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = Workers(project, logs)
    try:
        first, second, third = workers.start(), workers.start(), workers.start()

        def holding(process: object) -> bool:
            pid = process.pid  # type: ignore[attr-defined]
            return bool(store_rows(url, "SELECT 1 FROM leases WHERE pid = :pid AND key "
                                        "NOT LIKE 'slots %' AND expires_at > 0", pid=pid))

        wait_for(lambda: holding(first), "the first worker to hold a mailbox")
        os.kill(first.pid, signal.SIGKILL)  # mid-mailbox: its lease is held
        first.wait()
        wait_for(lambda: holding(second), "the second worker to hold a mailbox")
        second.send_signal(signal.SIGTERM)  # finishes its folders, gives the job back
        assert second.wait(timeout=300) == 0, workers.output(1)
        assert "worker stopped" in workers.output(1)

        status = mailferry("status", str(project.toml), "--json")
        assert status.returncode == 0, status.stderr

        wait_for(lambda: all(state == "done" for state, _, _ in jobs(url, run).values())
                 and len(jobs(url, run)) == 40, "every job done", timeout=900)
        assert third.poll() is None  # the survivor did the rest
    finally:
        workers.stop_all()
        source_door.close()
        target_door.close()
    done = jobs(url, run)
    assert {finishes for _, finishes, _ in done.values()} == {1}  # no mailbox done twice
    # the killed worker's job and the stopped one's were taken again and finished there
    assert len([user for user, (_, _, taken) in done.items() if taken >= 2]) >= 2, done
    for user in project.users:
        assert_migrated(project.source, project.target, user)
    statuses = {r.source_user: r.status for r in store_rows(
        url, "SELECT source_user, status FROM project_mailboxes")}
    assert set(statuses.values()) == {"synced"} and len(statuses) == 40
    assert source_door.peak <= CAP, source_door.peak
    assert target_door.peak <= CAP, target_door.peak
    assert source_door.total >= 40


def test_status_names_the_worker_that_holds_each_mailbox(
        tmp_path: Path, dovecot_factory: object, postgres: Postgres, redis_server: Redis,
) -> None:
    project, _ = project_for(tmp_path, dovecot_factory, postgres, redis_server, 3, 60)
    doors = proxies(project, slow=0.3)  # each mailbox takes a while: status sees it
    capped(project.write(), CAP, WORKERS)
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = Workers(project, logs)
    try:
        worker = workers.start()
        done = mailferry("sync", str(project.toml), "--distributed", "--json")
        assert done.returncode == 0, done.stderr

        def shown() -> dict[str, str]:
            status = mailferry("status", str(project.toml), "--json")
            found: dict[str, str] = json.loads(status.stdout)["workers"]
            return found

        holders = wait_for(shown, "status to show a worker", timeout=120)
        assert all(h.endswith(f":{worker.pid}") for h in holders.values()), holders
        follow = mailferry("sync", str(project.toml), "--distributed", "--follow", "--json")
        assert follow.returncode == 0, follow.stderr
        assert json.loads(follow.stdout)["ok"]
    finally:
        workers.stop_all()
        for door in doors:
            door.close()
    for user in project.users:
        assert_migrated(project.source, project.target, user)
