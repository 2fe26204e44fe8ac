"""GNU Mailutils imap4d (Debian bookworm: 3.15) from its chroot, on a loopback port.

Users are system users of the chroot: per-test /etc/passwd, /etc/shadow and /etc/group are
bind-mounted over the chroot's own (read-only). INBOX is an mbox file in the per-test spool,
other folders are mbox files under the user's home (the Debian default layout, '/' delimiter,
no prefix): so a folder that holds mail is a file and cannot get children.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed.chroot import INSIDE, ChrootServer, package_versions

FIRST_UID = 2001


def crypt_sha512(password: str) -> str:
    """A crypt(3) SHA-512 hash, as /etc/shadow holds (stdlib crypt is gone in 3.13)."""
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, text=True,
                          capture_output=True, check=True).stdout.strip()


@dataclass
class Imap4d(ChrootServer):
    name: str = "imap4d"

    def version(self) -> str:
        return package_versions(self.name)["mailutils-imap4d"]

    def home(self, user: str = "alice") -> Path:
        return self.base / "srv" / "home" / user

    def _prepare(self, work: Path) -> tuple[list[str], dict[str, Path]]:
        etc = self.base / "etc"
        etc.mkdir(exist_ok=True)
        passwd = ["root:x:0:0:root:/root:/bin/sh"]
        shadow = ["root:*:19000:0:99999:7:::"]
        group = ["root:x:0:", "mail:x:8:"]
        (work / "spool").mkdir()
        os.chmod(work / "spool", 0o1777)
        for n, user in enumerate(self.users):
            uid = FIRST_UID + n
            home = work / "home" / user.name
            home.mkdir(parents=True)
            os.chown(home, uid, uid)
            spool = work / "spool" / user.name  # INBOX: an empty mbox the user owns
            spool.touch(mode=0o600)
            os.chown(spool, uid, uid)
            passwd.append(f"{user.name}:x:{uid}:{uid}::{INSIDE}/home/{user.name}:/bin/sh")
            shadow.append(f"{user.name}:{crypt_sha512(user.password)}:19000:0:99999:7:::")
            group.append(f"{user.name}:x:{uid}:")
        for name, lines in (("passwd", passwd), ("shadow", shadow), ("group", group)):
            (etc / name).write_text("\n".join(lines) + "\n")
        os.chmod(etc / "shadow", 0o640)
        (work / "imap4d.conf").write_text(f"""# written by mailferry's test bed; throwaway
mode daemon;
foreground yes;
max-children 50;
server {self.host}:{self.port} {{
  tls-mode false;
}};
logging {{ syslog false; }};
auth {{
  authentication system;
  authorization system;
}};
mailbox {{
  mail-spool "{INSIDE}/spool";
}};
""")
        command = ["/usr/sbin/imap4d", f"--config-file={INSIDE}/imap4d.conf"]
        overlays = {f"/etc/{name}": etc / name for name in ("passwd", "shadow", "group")}
        return command, overlays
