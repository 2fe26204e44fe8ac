"""A throwaway PostgreSQL server on 127.0.0.1 (Debian's postgresql package), for code that
must run on the shared store of many machines as it runs on SQLite.

initdb refuses to run as root, so the cluster belongs to the `postgres` user when the tests
run as root; its socket and data stay in a private temporary directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed.net import free_port, wait_for_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: run `make setup` (Debian package postgresql)")
    return path


@dataclass
class Postgres:
    """`password`: TCP logins need it (scram-sha-256); without, every login is trusted."""

    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mf-postgres-")))
    host: str = "127.0.0.1"
    port: int = 0
    password: str | None = None

    @property
    def url(self) -> str:
        """The admin URL (with the password, if any: for the tests' own connections)."""
        secret = f":{self.password}" if self.password else ""
        return f"postgresql+psycopg://postgres{secret}@{self.host}:{self.port}/postgres"

    def new_database(self) -> str:
        """A fresh empty database: its URL without a password (postgresql://...)."""
        import sqlalchemy as sa

        name = f"t{os.getpid()}_{time.monotonic_ns()}"
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        admin.dispose()
        return f"postgresql://postgres@{self.host}:{self.port}/{name}"

    def _run(self, *argv: str) -> None:
        user = [] if os.getuid() != 0 else ["runuser", "-u", "postgres", "--"]
        done = subprocess.run([*user, *argv], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> Postgres:
        if os.getuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        auth = ["-A", "trust"] if self.password is None else [
            "--auth-local=trust", "--auth-host=scram-sha-256"]
        self._run(_bin("initdb"), "-D", str(self.base / "data"), *auth, "-U",
                  "postgres", "--no-sync", "-E", "UTF8")
        self.port = free_port()
        options = (f"-p {self.port} -k {self.base} -c listen_addresses={self.host} "
                   "-c fsync=off -c max_connections=60")
        self._run(_bin("pg_ctl"), "-D", str(self.base / "data"), "-o", options, "-l",
                  str(self.base / "server.log"), "-w", "start")
        wait_for_port(self.host, self.port)
        if self.password is not None:  # set over the private socket, where logins are trusted
            self._run(_bin("psql"), "-h", str(self.base), "-p", str(self.port), "-U",
                      "postgres", "-c", f"ALTER USER postgres PASSWORD '{self.password}'")
        return self

    def stop(self) -> None:
        if self.port:
            self._run(_bin("pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "stop")
            self.port = 0
        shutil.rmtree(self.base, ignore_errors=True)
