"""Cyrus IMAP (Debian bookworm: 3.6) from its chroot, on a loopback port.

Debian's defaults are kept where they shape what a client sees: altnamespace and
unixhierarchysep off, so folders are "INBOX.Child" with '.' as the delimiter. Users live in a
per-test sasldb (saslpasswd2); their mailboxes are created by the `cyrus` admin over IMAP.
"""

from __future__ import annotations

import imaplib
import os
from dataclasses import dataclass
from pathlib import Path

from testbed.chroot import INSIDE, ChrootServer, chroot_user_ids, package_versions, run_in_chroot

ADMIN = "cyrus"
REALM = "mf-cyrus"


@dataclass
class Cyrus(ChrootServer):
    name: str = "cyrus"
    delimiter: str = "."
    prefix: str = "INBOX."
    admin_password: str = "cyrus-admin-pw"

    def version(self) -> str:
        return package_versions(self.name)["cyrus-imapd"]

    def _prepare(self, work: Path) -> tuple[list[str], dict[str, Path]]:
        uid, gid = chroot_user_ids(self.chroot, "cyrus")
        for sub in ("lib", "lib/db", "lib/proc", "lib/socket", "lib/lock", "lib/log",
                    "lib/msg", "lib/user", "lib/quota", "lib/sieve", "lib/ptclient", "spool"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        (work / "imapd.conf").write_text(f"""# written by mailferry's test bed; throwaway
configdirectory: {INSIDE}/lib
defaultpartition: default
partition-default: {INSIDE}/spool
proc_path: {INSIDE}/lib/proc
mboxname_lockpath: {INSIDE}/lib/lock
lmtpsocket: {INSIDE}/lib/socket/lmtp
idlesocket: {INSIDE}/lib/socket/idle
notifysocket: {INSIDE}/lib/socket/notify
servername: {REALM}
admins: {ADMIN}
altnamespace: no
unixhierarchysep: no
hashimapspool: true
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {INSIDE}/sasldb2
sasl_mech_list: PLAIN LOGIN
umask: 077
""")
        (work / "cyrus.conf").write_text(f"""# written by mailferry's test bed; throwaway
START {{
  recover cmd="ctl_cyrusdb -r -C {INSIDE}/imapd.conf"
}}
SERVICES {{
  imap cmd="imapd -C {INSIDE}/imapd.conf" listen="{self.host}:{self.port}" prefork=0 maxchild=50
}}
EVENTS {{
}}
""")
        for account, password in [(ADMIN, self.admin_password),
                                  *((u.name, u.password) for u in self.users)]:
            done = run_in_chroot(self.chroot, work, [
                "saslpasswd2", "-p", "-c", "-f", f"{INSIDE}/sasldb2", "-u", REALM, account],
                stdin=password.encode())
            if done.returncode != 0:
                raise RuntimeError(f"saslpasswd2 {account}: {done.stderr.decode()[-500:]}")
        for path in [work, *work.rglob("*")]:
            os.chown(path, uid, gid)
        command = ["/usr/lib/cyrus/bin/master", "-C", f"{INSIDE}/imapd.conf",
                   "-M", f"{INSIDE}/cyrus.conf", "-p", f"{INSIDE}/lib/master.pid"]
        return command, {}

    def _after_start(self) -> None:
        admin = imaplib.IMAP4(self.host, self.port)
        try:
            admin.login(ADMIN, self.admin_password)
            for user in self.users:
                typ, data = admin.create(f"user.{user.name}")
                if typ != "OK":
                    raise RuntimeError(f"cyrus: CREATE user.{user.name}: {data!r}")
        finally:
            admin.logout()
