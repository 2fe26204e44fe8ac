"""Peak memory of a child process, as the kernel counts it."""

from __future__ import annotations


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a running process in MB (0 once it is gone). Polled from /proc: wait4's
    ru_maxrss would also count what the child inherited from its parent before exec."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
