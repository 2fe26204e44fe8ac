"""Distributed runs on real servers: a project whose store is a throwaway PostgreSQL and
whose broker a throwaway redis-server, Dovecot behind counting proxies, `mailferry worker`
processes started and ended by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from testbed.counting_proxy import CountingProxy
from testbed.projectkit import Project


def capped(project: Project, cap: int, workers: int) -> Project:
    """Both servers capped at `cap` connections; `workers` folders at once per mailbox."""
    text = project.toml.read_text().replace("max_connections = 8", f"max_connections = {cap}")
    text = text.replace('auth = "master"', f'auth = "master"\nmax_connections = {cap}')
    project.toml.write_text(text + f"workers = {workers}\nmailboxes = 2\n")
    return project


@dataclass
class Workers:
    project: Project
    logs: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, threads: int = 2) -> subprocess.Popen[bytes]:
        n = len(self.started)
        with open(self.logs / f"worker{n}.out", "wb") as out:  # the child keeps its copy
            process = subprocess.Popen(
                [sys.executable, "-m", "mailferry", "worker", str(self.project.toml),
                 "--threads", str(threads), "--log-file", str(self.logs / f"worker{n}.log")],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.started.append(process)
        return process

    def output(self, n: int) -> str:
        return (self.logs / f"worker{n}.out").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def mailferry(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def store_rows(url: str, query: str, **params: Any) -> list[sa.Row[Any]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))
    finally:
        engine.dispose()


def wait_for(condition: Any, what: str, timeout: float = 600.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def enqueue(project: Project) -> str:
    done = mailferry("sync", str(project.toml), "--distributed", "--json")
    assert done.returncode == 0, done.stderr
    run: str = json.loads(done.stdout)["run"]
    return run


def proxies(project: Project, *, slow: float = 0.0) -> tuple[CountingProxy, CountingProxy]:
    """Counting proxies in front of both servers (`slow`: the target takes its time)."""
    source = CountingProxy(project.source.host, project.source.port)
    target = CountingProxy(project.target.host, project.target.port, slow=slow)
    project.source_port, project.target_port = source.port, target.port
    return source, target
