"""Reading TOML with errors that name the file, the line and the key.

tomllib gives values but no positions, so `TomlFile` keeps a small index of where each
key was written (table headers and `key =` lines). Sections are validated against a
declarative list of `Field`s: unknown keys, wrong types and missing keys all become a
`ConfigError` such as `migration.toml:12: [source] account_expiry: expected a date`.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailferry.errors import ConfigError
from mailferry.redact import mask_value

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\-" ]+?)\s*=""")


def _split_dotted(text: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', text)
    return tuple(a or b or c for a, b, c in parts)


@dataclass(frozen=True)
class TomlFile:
    path: Path
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int]

    @classmethod
    def load(cls, path: str | Path) -> TomlFile:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("file not found", where=str(path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", where=str(path)) from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: str | Path = "<string>") -> TomlFile:
        path = Path(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+)", str(exc))
            where = f"{path}:{match.group(1)}" if match else str(path)
            raise ConfigError(f"not valid TOML: {exc}", where=where) from None
        return cls(path, data, _index_lines(text))

    def line_of(self, *key: str) -> int | None:
        """Line where `key` (a path of table names and a key) was written, if known."""
        for cut in range(len(key), 0, -1):
            if key[:cut] in self.lines:
                return self.lines[key[:cut]]
        return None

    def where(self, *key: str) -> str:
        line = self.line_of(*key)
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, message: str, *key: str) -> ConfigError:
        if len(key) > 1:
            label = f"[{'.'.join(key[:-1])}] {key[-1]}"
        else:
            label = f"[{key[0]}]" if key else ""
        return ConfigError(f"{label}: {message}" if label else message, where=self.where(*key))

    def section(self, name: str, fields: Sequence[Field], *,
                required: bool = False) -> dict[str, Any] | None:
        """The validated table `name` with defaults filled in, or None if absent and optional."""
        table = self.data.get(name)
        if table is None:
            if required:
                raise ConfigError(f"missing section [{name}]", where=str(self.path))
            return None
        if not isinstance(table, dict):
            raise self.error("expected a table", name)
        return validate_table(self, (name,), table, fields)

    def check_sections(self, known: Sequence[str]) -> None:
        for name in self.data:
            if name not in known:
                raise self.error(f"unknown section (known: {', '.join(known)})", name)


@dataclass(frozen=True)
class Field:
    """One key of a section: its TOML type(s), whether required, a default, an extra check.

    `check` gets the value and returns it converted, or raises ValueError with a message.
    """

    name: str
    types: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    check: Callable[[Any], Any] | None = None
    item_types: type | tuple[type, ...] | None = None  # for lists


_TYPE_NAMES = {
    str: "a string", int: "an integer", float: "a number", bool: "true or false",
    list: "a list", dict: "a table", dt.datetime: "a date-time", dt.date: "a date",
    dt.time: "a time",
}


def _type_ok(value: Any, types: type | tuple[type, ...]) -> bool:
    types = types if isinstance(types, tuple) else (types,)
    for t in types:
        if t is dt.date and isinstance(value, dt.datetime):
            continue  # a date-time is not a date
        if t is int and isinstance(value, bool):
            continue
        if isinstance(value, t):
            return True
    return False


def _describe(types: type | tuple[type, ...]) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def validate_table(
    doc: TomlFile, path: tuple[str, ...], table: dict[str, Any], fields: Sequence[Field]
) -> dict[str, Any]:
    by_name = {f.name: f for f in fields}
    for key in table:
        if key not in by_name:
            known = ", ".join(sorted(by_name))
            raise doc.error(f"unknown key (known: {known})", *path, key)
    out: dict[str, Any] = {}
    for field in fields:
        if field.name not in table:
            if field.required:
                raise ConfigError(
                    f"[{'.'.join(path)}] {field.name}: missing required key", where=doc.where(*path)
                )
            out[field.name] = field.default
            continue
        value = table[field.name]
        if not _type_ok(value, field.types):
            raise doc.error(f"expected {_describe(field.types)}, got {mask_value(value)!r}",
                            *path, field.name)
        if field.item_types is not None and isinstance(value, list):
            for item in value:
                if not _type_ok(item, field.item_types):
                    raise doc.error(
                        f"list items must be {_describe(field.item_types)}, "
                        f"got {mask_value(item)!r}", *path, field.name,
                    )
        if field.check is not None:
            try:
                value = field.check(value)
            except ValueError as exc:
                raise doc.error(str(exc), *path, field.name) from None
        out[field.name] = value
    return out


def _index_lines(text: str) -> dict[tuple[str, ...], int]:
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_dotted(header.group(1))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault(table + _split_dotted(key.group(1)), number)
    return lines
