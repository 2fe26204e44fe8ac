"""The dashboard under test: `mailferry serve` as a real process on 127.0.0.1, over a real
project whose state a real `mailferry sync` wrote against the test bed's Dovecot."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from testbed import MAILFERRY, DovecotUser
from testbed.projectkit import MASTER, Project, fill, org_users  # noqa: F401 (re-exported)

XSS_USER = "<script>alert(1)</script>"
XSS_DEPARTMENT = '<img src=x onerror="alert(2)">'
XSS_FOLDER_WIRE = "<b>Tricky &- Co"  # displayed "<b>Tricky & Co" ('&' is shifted in IMAP)
XSS_FOLDER = "<b>Tricky & Co"


@dataclass
class SyncedProject:
    project: Project
    users: list[DovecotUser]  # the real ones; users.csv also lists XSS_USER
    sync_exit: int

    @property
    def toml(self) -> Path:
        return self.project.toml


def write_users(project: Project, extra: list[tuple[str, str, str]]) -> None:
    """users.csv and secrets.csv with `extra` (user, department, wave) rows added."""
    rows = (project.root / "users.csv").read_text().splitlines()
    rows += [f"{_csv(user)},,{_csv(department)},{wave}" for user, department, wave in extra]
    (project.root / "users.csv").write_text("\n".join(rows) + "\n")
    secrets = (project.root / "secrets.csv").read_text().splitlines()
    secrets += [f'"{user}",not-the-password,' for user, _, _ in extra]
    (project.root / "secrets.csv").write_text("\n".join(secrets) + "\n")


def _csv(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


def cutover_in(days: int) -> str:
    return (dt.datetime.now() + dt.timedelta(days=days)).strftime("%Y-%m-%dT18:00:00")


MIGRATION = """
[migration]
name = "Acme & Sons <Bank>"
domains = ["acme.example"]
timezone = "Pacific/Auckland"
cutover = {cutover}
"""


def cli(*args: str, env: dict[str, str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILFERRY, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base: str  # http://127.0.0.1:PORT/
    token: str | None  # None: the token came from the environment or the project
    out: Path
    err: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    @contextmanager
    def login(self, token: str | None = None, **kwargs: object) -> Iterator[httpx.Client]:
        """A client holding the session cookie, as a browser would after the first visit."""
        with httpx.Client(base_url=self.base, timeout=30, **kwargs) as client:  # type: ignore[arg-type]
            reply = client.get("/", params={"token": token or self.token})
            assert reply.status_code == 303, reply.text
            yield client


@contextmanager
def serving(toml: Path, *args: str, env: dict[str, str] | None = None,
            logs: Path | None = None) -> Iterator[Served]:
    """`mailferry serve TOML --port 0 ARGS`, stopped with SIGINT (SIGKILL if it hangs)."""
    logs = logs or toml.parent
    out, err = logs / "serve.out", logs / "serve.err"
    environment = {k: v for k, v in os.environ.items() if k != "MAILFERRY_DASHBOARD_TOKEN"}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([*MAILFERRY, "serve", str(toml), "--port", "0", *args],
                                   stdout=stdout, stderr=stderr,
                                   env={**environment, **(env or {})})
    try:
        deadline = time.monotonic() + 60
        match = None
        while match is None:
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "serve did not print its address"
            time.sleep(0.1)
            match = re.search(r"(https?://[^/\s]+/)\?token=(\S+)", out.read_text())
        token = None if match.group(2) == "…" else match.group(2)
        yield Served(process, match.group(1), token, out, err)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


FAILED = pytest.StashKey[bool]()  # set by conftest's report hook: did the test's call fail?


def call_failed(request: pytest.FixtureRequest) -> bool:
    return request.node.stash.get(FAILED, False)
