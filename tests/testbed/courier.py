"""Courier-IMAP (Debian bookworm: 5.0) from its chroot, on a loopback port.

Courier's paths are compiled in, so a per-test copy of /etc/courier (authdaemonrc with the
userdb module only, a userdb of the test users, made with makeuserdb) is bind-mounted over
the chroot's. One start script runs in the namespace: authdaemond in the background, then
couriertcpd in the foreground. Debian's imapd settings are kept (Maildir, "INBOX." and '.'), except
STARTTLS (it would serve the chroot's self-signed certificate) and IMAP_USELOCKS (without a
FAM daemon each locked command waits ~1.5 s).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from testbed.chroot import INSIDE, ChrootServer, package_versions, run_in_chroot
from testbed.imap4d import FIRST_UID, crypt_sha512


@dataclass
class Courier(ChrootServer):
    name: str = "courier"
    delimiter: str = "."
    prefix: str = "INBOX."

    def version(self) -> str:
        return package_versions(self.name)["courier-imap"]

    def _prepare(self, work: Path) -> tuple[list[str], dict[str, Path]]:
        etc = work / "etc-courier"
        shutil.rmtree(etc, ignore_errors=True)
        shutil.copytree(self.chroot / "etc" / "courier", etc, symlinks=True)
        (etc / "authdaemonrc").write_text(
            'authmodulelist="authuserdb"\ndaemons=3\n'
            "authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=\"\"\n")
        lines = []
        for n, user in enumerate(self.users):
            uid = FIRST_UID + n
            home = work / "home" / user.name
            for sub in ("cur", "new", "tmp"):
                (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
            for path in [home, *home.rglob("*")]:
                os.chown(path, uid, uid)
            lines.append(f"{user.name}\tuid={uid}|gid={uid}|home={INSIDE}/home/{user.name}"
                         f"|mail={INSIDE}/home/{user.name}/Maildir"
                         f"|systempw={crypt_sha512(user.password)}")
        (etc / "userdb").write_text("\n".join(lines) + "\n")
        os.chmod(etc / "userdb", 0o600)
        done = run_in_chroot(self.chroot, work,
                             ["/usr/sbin/makeuserdb", "-f", f"{INSIDE}/etc-courier/userdb"])
        if done.returncode != 0:
            raise RuntimeError(f"courier makeuserdb: {done.stderr.decode()[-500:]}")
        (work / "start.sh").write_text(f"""#!/bin/sh
# written by mailferry's test bed; throwaway
set -e
mkdir -p /run/courier/authdaemon
/usr/lib/courier/courier-authlib/authdaemond &
i=0
while [ ! -S /run/courier/authdaemon/socket ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
set -a
. /etc/courier/imapd
. /etc/courier/imapd-ssl
IMAP_STARTTLS=NO
# without a FAM daemon, every locked command waits ~1.5 s for it; one client at a time here
IMAP_USELOCKS=0
IMAPDSTARTTLS=NO
TLS_CERTFILE=
exec /usr/sbin/couriertcpd -address={self.host} -maxprocs=40 -maxperip=40 \\
  -nodnslookup -noidentlookup {self.port} \\
  /usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir
""")
        return ["/bin/sh", f"{INSIDE}/start.sh"], {"/etc/courier": etc}
