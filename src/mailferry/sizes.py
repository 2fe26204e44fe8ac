"""Sizes as people write them in options and migration.toml: 500000, 500k, 25MB, 10MiB.

A module of its own at the bottom layer, so the project file's loader can check a size
without importing the copy engine (and, with it, SQLAlchemy) into every command: the
relay's delivery process has a memory bound that the engine would break.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """'25MB', '10 MiB', '500k', 1048576 -> bytes; ValueError with what is wrong."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{value}: a size of at least 1 byte")
        return value
    match = _SIZE.match(str(value))
    unit = match[2].lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"{value!r}: a size such as 500000, 500k, 25MB or 10MiB")
    size = int(float(match[1]) * _UNITS[unit])
    if size < 1:
        raise ValueError(f"{value!r}: a size of at least 1 byte")
    return size
