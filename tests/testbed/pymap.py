"""A throwaway pymap server (PyPI `pymap`, a pure-Python IMAP server) on a loopback port.

Backends: "maildir" (on disk under `base`, any number of users from pymap's own
passwd/shadow files) or "dict" (in memory, one user). No TLS: pymap offers STARTTLS only
when given a certificate, and `--no-tls` lets a plaintext LOGIN through.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path

from testbed.net import free_port, wait_for_port

HASH_ROUNDS = 1000  # pbkdf2 rounds of the stored passwords: throwaway users, fast logins


@dataclass(frozen=True)
class PymapUser:
    name: str
    password: str


def _password_hash(password: str) -> str:
    from pysasl.hashing import BuiltinHash  # pymap's own dependency: its format, its salt

    return BuiltinHash(rounds=HASH_ROUNDS).hash(password)


@dataclass
class Pymap:
    users: list[PymapUser] = field(default_factory=lambda: [PymapUser("alice", "alice-pw")])
    backend: str = "maildir"
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mf-pymap-")))
    host: str = "127.0.0.1"
    port: int = 0
    delimiter: str = "/"
    prefix: str = ""
    process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def version() -> str:
        return package_version("pymap")

    def password(self, user: str = "alice") -> str:
        return next(u.password for u in self.users if u.name == user)

    def url(self, user: str = "alice", scheme: str = "imap") -> str:
        return f"{scheme}://{user}@{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.base / "pymap.log"

    def _backend_args(self) -> list[str]:
        if self.backend == "dict":
            if len(self.users) != 1:
                raise ValueError("pymap's dict backend holds exactly one user")
            user = self.users[0]
            return ["dict", "--demo-user", user.name, "--demo-password", user.password]
        mail = self.base / "mail"
        mail.mkdir(exist_ok=True)
        (mail / "pymap-etc-passwd").write_text(
            "".join(f"{u.name}::{2001 + n}:{2001 + n}::{u.name}:\n"
                    for n, u in enumerate(self.users)))
        (mail / "pymap-etc-shadow").write_text(
            "".join(f"{u.name}:{_password_hash(u.password)}:::::::\n" for u in self.users))
        return ["maildir", str(mail)]

    def start(self) -> Pymap:
        pymap = Path(sys.executable).with_name("pymap")
        command = [str(pymap) if pymap.exists() else shutil.which("pymap") or "pymap"]
        failures = []
        for _attempt in range(3):
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [*command, "--host", self.host, "--port", str(self.port), "--no-tls",
                     *self._backend_args()],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            try:
                wait_for_port(self.host, self.port, timeout=20)
                return self
            except TimeoutError:
                self.stop()
                failures.append(self.log_path.read_text(errors="replace")[-2000:])
        raise RuntimeError(f"pymap did not start: {failures}")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Pymap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
