"""IMAP servers that cannot sit beside dovecot-imapd, run from Debian chroots on loopback.

scripts/testbed-chroot.sh builds one chroot per server under the cache directory
($MAILFERRY_TESTBED_CACHE, default /var/cache/mailferry-testbed). A server runs as:

    unshare --mount --pid --fork --kill-child   (private mount and pid namespaces)
      bind-mount the per-test folder on <chroot>/srv/mf (the only writable thing from the host)
      bind-mount any per-test files over the chroot's own (/etc/passwd, ...), read-only
      mount /proc, a tmpfs on /run and /tmp
      chroot <chroot> <server in the foreground>

When the process group is killed, the namespace's init dies and the kernel kills everything
left in it, and every mount disappears with the namespace: nothing can leak on the host.
The chroot itself is never written to.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from testbed.net import free_port, wait_for_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "testbed-chroot.sh"
INSIDE = "/srv/mf"  # where the per-test folder appears inside the chroot


class ChrootMissing(RuntimeError):
    """The server's chroot was not built (scripts/testbed-chroot.sh)."""


def cache_dir() -> Path:
    return Path(os.environ.get("MAILFERRY_TESTBED_CACHE", "/var/cache/mailferry-testbed"))


def chroot_path(name: str) -> Path:
    """The ready chroot of `name` ("imap4d", "cyrus", "courier"), or ChrootMissing."""
    root = cache_dir() / f"{name}-chroot"
    if not (root / ".mailferry-ready").is_file():
        raise ChrootMissing(f"{name}: no chroot at {root}; build it with "
                            f"`bash {SCRIPT.relative_to(SCRIPT.parents[1])} {name}` "
                            "(or `make test-interop`)")
    return root


def package_versions(name: str) -> dict[str, str]:
    """Debian package -> version installed in the chroot (recorded at build time)."""
    text = (chroot_path(name) / ".mailferry-versions").read_text()
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def chroot_user_ids(root: Path, user: str) -> tuple[int, int]:
    """uid, gid of a system user of the chroot (not of the host)."""
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise KeyError(f"{user} not in {root}/etc/passwd")


@dataclass
class ChrootProcess:
    """One server process tree inside a chroot, with the per-test folder at /srv/mf."""

    chroot: Path
    command: Sequence[str]
    work: Path  # the per-test folder (host side)
    overlays: Mapping[str, Path] = field(default_factory=dict)  # chroot path -> host file
    process: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        mounts = [f'mount --bind "{self.work}" "{self.chroot}{INSIDE}"',
                  f'mount -t proc proc "{self.chroot}/proc"',
                  f'mount -t tmpfs tmpfs "{self.chroot}/run"',
                  f'mount -t tmpfs tmpfs "{self.chroot}/tmp"']
        for inside, host_file in self.overlays.items():
            target = f"{self.chroot}{inside}"
            mounts.append(f'mount --bind "{host_file}" "{target}" && '
                          f'mount -o remount,bind,ro "{target}"')
        script = " && ".join(mounts) + f' && exec chroot "{self.chroot}" "$@"'
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                 "--kill-child", "sh", "-c", script, "sh", *self.command],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # the kernel ends the namespace
            self.process.wait(timeout=10)
        self.process = None


@dataclass(frozen=True)
class ChrootUser:
    name: str
    password: str


@dataclass
class ChrootServer:
    """What every chroot server shares: users, a per-test folder, a loopback port, start/stop.
    Subclasses write their configuration and say the command (`_prepare`)."""

    users: list[ChrootUser] = field(default_factory=lambda: [ChrootUser("alice", "alice-pw")])
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mf-chroot-")))
    host: str = "127.0.0.1"
    port: int = 0
    name: str = "chroot"  # the chroot's name; set by subclasses
    delimiter: str = "/"
    prefix: str = ""
    _proc: ChrootProcess | None = None

    @property
    def chroot(self) -> Path:
        return chroot_path(self.name)

    @property
    def log_path(self) -> Path:
        return self.base / "server.log"

    def password(self, user: str = "alice") -> str:
        return next(u.password for u in self.users if u.name == user)

    def url(self, user: str = "alice", scheme: str = "imap") -> str:
        return f"{scheme}://{user}@{self.host}:{self.port}"

    def version(self) -> str:
        raise NotImplementedError

    def _prepare(self, work: Path) -> tuple[list[str], dict[str, Path]]:
        """Write the configuration into `work`; return the command and the file overlays."""
        raise NotImplementedError

    def _after_start(self) -> None:
        """Accounts that can only be made once the server runs (Cyrus mailboxes)."""

    def start(self) -> ChrootServer:
        root = self.chroot
        os.chmod(self.base, 0o755)
        failures: list[str] = []
        for _attempt in range(3):
            self.port = free_port()
            work = self.base / "srv"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            os.chmod(work, 0o755)
            command, overlays = self._prepare(work)
            self._proc = ChrootProcess(root, command, work, overlays)
            self._proc.start(self.log_path)
            try:
                wait_for_port(self.host, self.port, timeout=20)
            except TimeoutError:
                failures.append(self._log_tail())
                self.stop()
                continue
            self._after_start()
            return self
        raise RuntimeError(f"{self.name} did not start: {failures}")

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> ChrootServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def run_in_chroot(chroot: Path, work: Path, command: Sequence[str], *, stdin: bytes = b"",
                  timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """Run one command to completion in the chroot, the per-test folder at /srv/mf."""
    script = (f'mount --bind "{work}" "{chroot}{INSIDE}" && '
              f'mount -t proc proc "{chroot}/proc" && exec chroot "{chroot}" "$@"')
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                           "--kill-child", "sh", "-c", script, "sh", *command],
                          input=stdin, capture_output=True, timeout=timeout, check=False)
