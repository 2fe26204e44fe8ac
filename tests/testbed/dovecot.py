"""A throwaway Dovecot instance: own base_dir, passwd-file users, Maildir, on free loopback ports.

Layouts, because migrations cross them:
- "slash": '/' hierarchy delimiter, no prefix (LAYOUT=fs, so '.' may appear inside names);
- "dot":   '.' delimiter with the "INBOX." namespace prefix (Courier/Cyrus style).

Special-use folders are declared in the namespace (`special` maps \\Sent -> a name), a master
user can be configured (`user*master` and SASL PLAIN authzid), an LMTP listener is optional,
and `max_message_size` makes APPENDs above it fail (quota plugin), as Gmail's 35 MB limit does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed.certs import VERSION, ServerCerts, make_certs
from testbed.net import free_port, wait_for_port
from testbed.seed import imap_session

DEFAULT_SPECIAL = {
    "\\Drafts": "Drafts", "\\Sent": "Sent", "\\Trash": "Trash",
    "\\Junk": "Junk", "\\Archive": "Archive",
}
MAIL_USER = "mail"  # Debian's uid 8: mail processes must not run as root


@dataclass(frozen=True)
class DovecotUser:
    name: str
    password: str


def _alive(pid: int) -> bool:
    """True while the process runs; a zombie (daemonized, so nobody here reaps it) is dead."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _dovecot_binary() -> str:
    for candidate in ("/usr/sbin/dovecot", shutil.which("dovecot") or ""):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("dovecot is not installed: run `make setup` (Debian package dovecot-imapd)")


_CERTS: ServerCerts | None = None


def shared_certs() -> ServerCerts:
    global _CERTS
    if _CERTS is None:
        _CERTS = make_certs(Path(tempfile.gettempdir())
                            / f"mailferry-testcerts-v{VERSION}-{os.getuid()}")
    return _CERTS


@dataclass
class Dovecot:
    users: list[DovecotUser] = field(default_factory=lambda: [DovecotUser("alice", "alice-pw")])
    layout: str = "slash"
    special: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SPECIAL))
    tls: bool = False  # also serve IMAPS and offer STARTTLS with a cert from the test CA
    self_signed: bool = False  # serve a certificate no client should trust
    # which certificate TLS serves: "ca" (good), "self-signed", or one from the trusted CA
    # that is still wrong: "wrong-name" (another host) or "expired"
    certificate: str = "ca"
    lmtp: bool = False
    master: DovecotUser | None = None
    max_message_size: int | None = None
    advertise_appendlimit: bool = False  # also say max_message_size as APPENDLIMIT=
    # capabilities not to advertise after login (e.g. ("MOVE",): a target without MOVE)
    without_capabilities: tuple[str, ...] = ()
    compress: bool = False  # offer COMPRESS=DEFLATE (RFC 4978) through the imap_zlib plugin
    greeting: str = ""  # the greeting's text (login_greeting), as admins change it
    # connections one user may hold from one address (Dovecot's default is 10)
    max_userip_connections: int = 200
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mf-dovecot-")))
    host: str = "127.0.0.1"
    port: int = 0
    imaps_port: int = 0
    lmtp_port: int = 0
    pid: int | None = None

    @property
    def delimiter(self) -> str:
        return "." if self.layout == "dot" else "/"

    @property
    def prefix(self) -> str:
        return "INBOX." if self.layout == "dot" else ""

    def url(self, user: str = "alice", scheme: str = "imap") -> str:
        port = self.imaps_port if scheme == "imaps" else self.port
        return f"{scheme}://{user}@{self.host}:{port}"

    def refused_logins(self, user: str) -> int:
        """How many logins as `user` the server refused (from its auth log)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return sum(1 for line in text.splitlines()
                   if f"({user}," in line and "Password mismatch" in line)

    def password(self, user: str = "alice") -> str:
        return next(u.password for u in self.users if u.name == user)

    def maildir(self, user: str = "alice") -> Path:
        return self.base / "mail" / user

    @property
    def log_path(self) -> Path:
        return self.base / "dovecot.log"

    def start(self) -> Dovecot:
        failures: list[str] = []
        for attempt in range(5):
            self.port = free_port()
            self.imaps_port = free_port() if self.tls else 0
            self.lmtp_port = free_port() if self.lmtp else 0
            self._write_config()
            # dovecot daemonizes; its children would hold a captured pipe open forever, so
            # its start-up errors go to a file
            with open(self.base / "start.err", "wb") as errors:
                code = subprocess.run([_dovecot_binary(), "-c", str(self.base / "dovecot.conf")],
                                      stdin=subprocess.DEVNULL, stdout=errors,
                                      stderr=errors).returncode
            if code != 0:
                failures.append((self.base / "start.err").read_text(errors="replace"))
                if attempt == 4:
                    raise RuntimeError(f"dovecot failed to start ({code}): {failures}")
                continue
            try:
                wait_for_port(self.host, self.port, timeout=10)
                self.pid = self._read_pid(timeout=5)
                if self.lmtp:
                    self._create_inboxes()
                return self
            except (TimeoutError, FileNotFoundError):
                self.stop()
                if attempt == 4:
                    log = self.log_path.read_text() if self.log_path.exists() else ""
                    raise RuntimeError(f"dovecot did not start:\n{log[-3000:]}") from None
        return self

    def _create_inboxes(self) -> None:
        """Each user's INBOX, made before any delivery. Dovecot 2.3 creates a missing INBOX on
        first use; when an LMTP delivery and an IMAP login both create it at once, their
        fcntl locks on the list index cross, the kernel answers EDEADLK and one process
        panics (the IMAP client sees EOF, or NO [ALREADYEXISTS] to EXAMINE INBOX): a test-bed
        race, not the relay's (CI, 2026-12-01)."""
        for user in self.users:
            with imap_session(self.host, self.port, user.name, user.password) as conn:
                typ, data = conn.select("INBOX")
            if typ != "OK":
                raise RuntimeError(f"dovecot: SELECT INBOX as {user.name}: {data!r}")

    def _read_pid(self, timeout: float) -> int:
        pid_file = self.base / "run" / "master.pid"
        deadline = time.monotonic() + timeout
        while True:  # the port can listen before master.pid is written
            try:
                return int(pid_file.read_text().strip())
            except (FileNotFoundError, ValueError):
                if time.monotonic() > deadline:
                    raise FileNotFoundError(pid_file) from None
                time.sleep(0.01)

    def stop(self) -> None:
        pid_file = self.base / "run" / "master.pid"
        pid = self.pid
        if pid is None and pid_file.exists():
            pid = int(pid_file.read_text().strip())
        if pid is not None:
            # a throwaway server: kill its whole process group (the master daemonized with
            # setsid) at once; a clean SIGTERM shutdown costs ~1 s per server
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.005)
        pid_file.unlink(missing_ok=True)
        self.pid = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- configuration -------------------------------------------------------------------

    def _write_config(self) -> None:
        mail = pwd.getpwnam(MAIL_USER)
        for sub in ("run", "state", "mail"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        os.chown(self.base / "mail", mail.pw_uid, mail.pw_gid)
        (self.base / "passwd").write_text(
            "".join(f"{u.name}:{{PLAIN}}{u.password}::::::\n" for u in self.users))
        if self.master:
            (self.base / "master-passwd").write_text(
                f"{self.master.name}:{{PLAIN}}{self.master.password}::::::\n")
        self.log_path.touch()
        os.chmod(self.log_path, 0o666)
        (self.base / "dovecot.conf").write_text(self._config_text(mail.pw_uid, mail.pw_gid))

    def _config_text(self, uid: int, gid: int) -> str:
        certs = shared_certs()
        cert, key = certs.pair("self-signed" if self.self_signed else self.certificate)
        location = ("maildir:~/Maildir" if self.layout == "dot"
                    else "maildir:~/Maildir:LAYOUT=fs")
        mailboxes = "".join(
            f'  mailbox "{name}" {{\n    special_use = {use}\n    auto = subscribe\n  }}\n'
            for use, name in self.special.items())
        protocols = "imap lmtp" if self.lmtp else "imap"
        # listescape lets the '.' layout hold names with '/' (as Courier and Cyrus servers do)
        plugins = " ".join((["quota"] if self.max_message_size else [])
                           + (["zlib"] if self.compress else [])
                           + (["listescape"] if self.layout == "dot" else []))
        quota = (f"plugin {{\n  quota = count:User quota\n  quota_vsizes = yes\n"
                 f"  quota_max_mail_size = {self.max_message_size}\n}}\n"
                 if self.max_message_size else "")
        if self.advertise_appendlimit and self.max_message_size:
            quota += f"imap_capability = +APPENDLIMIT={self.max_message_size}\n"
        if self.greeting:
            quota += f"login_greeting = {self.greeting}\n"
        if self.without_capabilities:
            quota += f"imap_capability = {_capabilities_without(self.without_capabilities)}\n"
        master = ""
        if self.master:
            master = (
                "auth_master_user_separator = *\n"
                "passdb {\n  driver = passwd-file\n  master = yes\n  pass = yes\n"
                f"  args = scheme=PLAIN {self.base}/master-passwd\n}}\n")
        lmtp = ("protocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n"
                if self.compress else "")
        if self.lmtp:
            lmtp += ("service lmtp {\n  inet_listener lmtp {\n"
                    f"    address = {self.host}\n    port = {self.lmtp_port}\n  }}\n}}\n"
                    # recipients arrive as user@domain; the passwd-file knows bare names
                    "protocol lmtp {\n  mail_plugins = $mail_plugins\n"
                    "  auth_username_format = %Ln\n}\n")
        imaps = (f"  inet_listener imaps {{\n    address = {self.host}\n"
                 f"    port = {self.imaps_port}\n    ssl = yes\n  }}\n" if self.tls
                 else "  inet_listener imaps {\n    port = 0\n  }\n")
        ssl = (f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n" if self.tls else "ssl = no\n")
        return f"""# written by mailferry's test bed; throwaway
base_dir = {self.base}/run
state_dir = {self.base}/state
instance_name = mf-{self.port}
log_path = {self.log_path}
protocols = {protocols}
listen = {self.host}
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
# one log line per refused login ("Password mismatch"): tests count what a run costs
auth_verbose = yes
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = {location}
mail_plugins = $mail_plugins {plugins}
mail_max_userip_connections = {self.max_userip_connections}
{quota}{master}namespace inbox {{
  inbox = yes
  separator = {self.delimiter}
  prefix = {self.prefix}
{mailboxes}}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.base}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
{imaps}  process_min_avail = 0
  service_count = 0
}}
service anvil {{
  chroot =
}}
{lmtp}"""


# what Dovecot 2.3 (Debian's 2.3.19) advertises after login; imap_capability replaces it whole
_POST_LOGIN_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE")


def _capabilities_without(left_out: tuple[str, ...]) -> str:
    return " ".join(c for c in _POST_LOGIN_CAPABILITIES.split() if c not in left_out)
