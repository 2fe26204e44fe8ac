"""Run a command on a real terminal (a pty of a given width) and read what it drew, so
tests see the progress bars and tables a person sees, escape sequences removed."""

from __future__ import annotations

import os
import pty
import re
import select
import struct
import subprocess
import termios
from collections.abc import Sequence
from fcntl import ioctl

_STYLE = re.compile(r"\x1b\[[0-9;]*m")
_CURSOR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # moves and erases: a new frame or line


def on_terminal(argv: Sequence[str], *, columns: int = 80, env: dict[str, str] | None = None,
                timeout: float = 300) -> str:
    """All the command wrote to its terminal (stdout and stderr), as text."""
    leader, follower = pty.openpty()
    ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items()
                   if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")}
    process = subprocess.Popen(list(argv), stdin=follower, stdout=follower, stderr=follower,
                               env={**environment, "TERM": "xterm"}, close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                break
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the command ended and closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
        os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    text = _CURSOR.sub("\n", _STYLE.sub("", text)).replace("\r", "")
    return "\n".join(line for line in text.split("\n") if line.strip())
