"""Throwaway real servers on 127.0.0.1 for tests, the demo and the benchmarks.

Nothing here is mocked: `Dovecot` runs the Debian dovecot binary with its own base_dir,
`FaultProxy` is a real TCP proxy, `seed` APPENDs raw bytes over real IMAP.
"""

from testbed.command import MAILFERRY
from testbed.dovecot import Dovecot, DovecotUser
from testbed.net import free_port
from testbed.proxy import FaultProxy
from testbed.readback import Stored, list_folders, read_folder, snapshot, subscribed
from testbed.seed import SeedMessage, imap_login, seed

__all__ = [
    "MAILFERRY", "Dovecot", "DovecotUser", "FaultProxy", "SeedMessage", "Stored", "free_port",
    "imap_login", "list_folders", "read_folder", "seed", "snapshot", "subscribed",
]
