"""users.csv: one row per mailbox to move.

    source_user,target_user,department,wave
    ana@old.example,ana@new.example,sales,pilot
    bo@old.example,,support,

`target_user` empty: the same name as on the source. `wave` empty: not assigned yet. Every
problem is a ConfigError naming file:line. Parsing is the csv module and a dict: thousands
of rows load in milliseconds.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from mailferry.errors import ConfigError

HEADER = ("source_user", "target_user", "department", "wave")
_WAVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class MailboxUser:
    source_user: str
    target_user: str
    department: str
    wave: str  # "" = not assigned yet
    line: int


def check_wave_name(name: str) -> str:
    if not _WAVE_NAME.match(name):
        raise ValueError(f"wave name {name!r}: letters, digits, '_', '.', '-' only")
    return name


def load_users(path: Path) -> list[MailboxUser]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from spreadsheet exports is fine
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8: {exc.reason}", where=str(path)) from None
    return parse_users(text, path)


def parse_users(text: str, path: Path = Path("users.csv")) -> list[MailboxUser]:
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or tuple(h.strip().lower() for h in header) != HEADER:
        raise ConfigError(f"header must be {','.join(HEADER)}", where=f"{path}:1")
    users: list[MailboxUser] = []
    seen: dict[str, int] = {}
    targets: dict[str, int] = {}
    for row in rows:
        line = rows.line_num
        where = f"{path}:{line}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(HEADER):
            raise ConfigError(f"expected {len(HEADER)} columns, got {len(row)}", where=where)
        source, target, department, wave = (cell.strip() for cell in row)
        if not source:
            raise ConfigError("source_user: empty", where=where)
        target = target or source
        for column, value in (("source_user", source), ("target_user", target)):
            if any(c.isspace() or c in "\"\\" for c in value):
                raise ConfigError(f"{column} {value!r}: no spaces, quotes or backslashes",
                                  where=where)
        if wave:
            try:
                check_wave_name(wave)
            except ValueError as exc:
                raise ConfigError(f"wave: {exc}", where=where) from None
        if source in seen:
            raise ConfigError(f"source_user {source!r} already on line {seen[source]}",
                              where=where)
        if target in targets:
            raise ConfigError(f"target_user {target!r} already on line {targets[target]}",
                              where=where)
        seen[source] = targets[target] = line
        users.append(MailboxUser(source, target, department, wave, line))
    return users


def assign_waves(path: Path, assignments: Mapping[str, str]) -> list[MailboxUser]:
    """Write `source_user -> wave` into users.csv (atomically: a crash leaves the old file),
    keeping every other cell and the row order."""
    users = load_users(path)
    updated = [replace(u, wave=assignments.get(u.source_user, u.wave)) for u in users]
    write_users(path, updated)
    return updated


def write_users(path: Path, users: Iterable[MailboxUser]) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for user in users:
        target = "" if user.target_user == user.source_user else user.target_user
        writer.writerow((user.source_user, target, user.department, user.wave))
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(out.getvalue())
        os.chmod(temp, path.stat().st_mode & 0o777)  # mkstemp's 0600 is not the admin's choice
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
