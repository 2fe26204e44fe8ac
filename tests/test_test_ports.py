"""Test servers' ports never collide: two pytest workers (or two sessions) asking at once get
different ports, none of them where the kernel picks a client's ephemeral port. When they
did collide, one server died on its bind while the other answered in its place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTBED = Path(__file__).resolve().parent

ASK = """
import time
from testbed.net import free_port
ports = [free_port() for _ in range(60)]
print(" ".join(map(str, ports)), flush=True)
time.sleep(1.5)  # hold the claim while the other process asks
"""


def test_two_processes_at_once_get_disjoint_ports_below_the_ephemeral_range() -> None:
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    env = {**os.environ, "PYTHONPATH": str(TESTBED)}  # the test bed, as pytest's pythonpath
    procs = [subprocess.Popen([sys.executable, "-c", ASK], stdout=subprocess.PIPE, text=True,
                              env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=30)[0].split() for p in procs]
    first, second = ({int(p) for p in out} for out in outs)
    assert len(first) == len(second) == 60
    assert not first & second
    assert max(first | second) < ephemeral_low
