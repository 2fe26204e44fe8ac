"""users.csv: one row per mailbox to move.

    source_user,target_user,department,wave
    ana@old.example,ana@new.example,sales,pilot
    bo@old.example,,support,

`target_user` empty: the same name as on the source. `wave` empty: not assigned yet.
Optional columns after these, in any order, for the notices to users (`mailferry notify`):
`name` (how to greet them), `language` (en, fr, ...), `timezone` (an IANA zone: dates in
their notices are in it), `notify_address` (where notices go; default their source
address). Any other column is the admin's own: kept (also by --draw-pilot) and shown in
status and the report. Exports such as Microsoft 365's (`EmailAddress,UserName,Password`)
are read as they are (ALIASES); a UTF-8 BOM is fine. Every problem is a ConfigError naming
file:line. Parsing is the csv module and a
dict: thousands of rows load in milliseconds.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from mailferry.errors import ConfigError

HEADER = ("source_user", "target_user", "department", "wave")
OPTIONAL_COLUMNS = ("name", "language", "timezone", "notify_address")
PASSWORD = "source_password"  # a login password in users.csv itself (export files have one)
# Column names of the CSV files admins already have (Microsoft 365's IMAP migration batch:
# EmailAddress = the new mailbox, UserName = the old login, Password = the old password),
# compared without case or spaces.
ALIASES = {
    "username": "source_user", "sourceuser": "source_user", "login": "source_user",
    "sourceemail": "source_user", "emailaddress": "target_user", "targetuser": "target_user",
    "targetemail": "target_user", "userprincipalname": "target_user",
    "password": PASSWORD, "sourcepassword": PASSWORD, "dept": "department",
    "displayname": "name", "batch": "wave",
}
_LANGUAGE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")
_WAVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class MailboxUser:
    source_user: str
    target_user: str
    department: str
    wave: str  # "" = not assigned yet
    line: int
    name: str = ""  # the optional columns: "" when absent or empty
    language: str = ""
    timezone: str = ""
    notify_address: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # the admin's own columns: (name, value), in order
    source_password: str = field(default="", repr=False)  # a Password column: never shown


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
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = next(rows, None) or []
    columns = header_columns(header, path)
    users: list[MailboxUser] = []
    seen: dict[str, int] = {}
    targets: dict[str, int] = {}
    for row in rows:
        line = rows.line_num
        where = f"{path}:{line}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            raise ConfigError(f"expected {len(columns)} columns, got {len(row)}", where=where)
        cells = {key: cell.strip() for key, cell in zip(columns, row, strict=True) if key}
        source, target, department, wave = (cells.get(key, "") for key in HEADER)
        optional = _optional_cells({k: cells.get(k, "") for k in OPTIONAL_COLUMNS
                                    if k in cells}, where)
        extra = tuple((name.strip(), cell.strip()) for name, key, cell
                      in zip(header, columns, row, strict=True) if key is None)
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
        users.append(MailboxUser(source, target, department, wave, line, **optional,
                                 extra=extra, source_password=cells.get(PASSWORD, "")))
    return users


def header_columns(header: list[str], path: Path) -> list[str | None]:
    """Each header cell's meaning: one of ours (HEADER, OPTIONAL_COLUMNS, PASSWORD), named
    as we do or as the exports admins have (ALIASES), or None: a column of the admin's own,
    kept and shown as it is."""
    columns: list[str | None] = []
    for cell in header:
        name = cell.strip().lower().replace(" ", "")
        key = name if name in (*HEADER, *OPTIONAL_COLUMNS, PASSWORD) else ALIASES.get(name)
        if key is not None and key in columns:
            raise ConfigError(f"header: {cell.strip()!r} names {key} again", where=f"{path}:1")
        columns.append(key)
    if "source_user" not in columns:
        raise ConfigError(f"header must name the source login: {','.join(HEADER)} (then any "
                          f"of {','.join(OPTIONAL_COLUMNS)} and columns of your own), or an "
                          "export's names such as UserName,EmailAddress,Password",
                          where=f"{path}:1")
    names = [cell.strip() for cell, key in zip(header, columns, strict=True) if key is None]
    if len(set(names)) != len(names) or "" in names:
        raise ConfigError("header: each column of your own needs a name of its own",
                          where=f"{path}:1")
    return columns


def _optional_cells(cells: dict[str, str], where: str) -> dict[str, str]:
    language = cells.get("language", "")
    if language and not _LANGUAGE.match(language):
        raise ConfigError(f"language {language!r}: a language code such as en or fr",
                          where=where)
    zone = cells.get("timezone", "")
    if zone:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"timezone {zone!r}: an IANA zone such as Europe/Paris",
                              where=where) from None
    address = cells.get("notify_address", "")
    if address and (address.count("@") != 1 or any(c.isspace() or c in "<>,\"'" for c in address)):
        raise ConfigError(f"notify_address {address!r}: one plain address", where=where)
    if any(c in "\r\n" for c in cells.get("name", "")):
        raise ConfigError("name: one line", where=where)
    return {"language": language.lower().replace("_", "-"), **{
        k: v for k, v in cells.items() if k != "language"}}


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
    users = list(users)
    # an optional column is kept when any user has a value in it
    extra = [c for c in OPTIONAL_COLUMNS if any(getattr(u, c) for u in users)]
    extra += [PASSWORD] if any(u.source_password for u in users) else []
    own = list(dict.fromkeys(name for u in users for name, _ in u.extra))
    writer.writerow((*HEADER, *extra, *own))
    for user in users:
        target = "" if user.target_user == user.source_user else user.target_user
        mine = dict(user.extra)
        writer.writerow((user.source_user, target, user.department, user.wave,
                         *(getattr(user, c) for c in extra), *(mine.get(n, "") for n in own)))
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(out.getvalue())
        os.chmod(temp, path.stat().st_mode & 0o777)  # mkstemp's 0600 is not the admin's choice
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
