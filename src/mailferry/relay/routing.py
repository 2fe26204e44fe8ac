"""Per-recipient routing: which upstreams (old, new or both) get a recipient's mail.

The table comes from a CSV file of `address,route` lines (a header line `address,route`
and `#` comments are allowed); addresses not listed take the default route. Errors name
the file and line. `RoutesFile` reloads the table when the file changes or on request
(SIGHUP); a broken edit keeps the previous table running and reports the error.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailferry.errors import ConfigError
from mailferry.project import ROUTES, upstreams_of


@dataclass(frozen=True)
class RoutingTable:
    default_route: str
    routes: Mapping[str, str] = field(default_factory=dict)  # lower-case address -> route

    def route_for(self, address: str) -> str:
        return self.routes.get(address.lower(), self.default_route)

    def upstreams_for(self, address: str) -> tuple[str, ...]:
        return upstreams_of(self.route_for(address))


def parse_routes_csv(text: str, path: Path, default_route: str,
                     configured: tuple[str, ...]) -> RoutingTable:
    routes: dict[str, str] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        where = f"{path}:{number}"
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in row]
        if number == 1 and [c.lower() for c in cells] == ["address", "route"]:
            continue
        if len(cells) != 2:
            raise ConfigError(f"expected address,route; got {len(cells)} fields", where=where)
        address, route = cells[0].lower(), cells[1].lower()
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain or " " in address:
            raise ConfigError(f"address: {cells[0]!r} is not an email address", where=where)
        if route not in ROUTES:
            raise ConfigError(f"route: {cells[1]!r}: expected one of {', '.join(ROUTES)}",
                              where=where)
        missing = [name for name in upstreams_of(route) if name not in configured]
        if missing:
            raise ConfigError(f"route: {route!r} needs upstream {missing[0]!r}, which is not "
                              "configured", where=where)
        if address in routes:
            raise ConfigError(f"address: {address} is listed twice", where=where)
        routes[address] = route
    return RoutingTable(default_route, routes)


class RoutesFile:
    """The routing table of a relay, reloaded when its CSV file changes."""

    def __init__(self, path: Path | None, default_route: str, configured: tuple[str, ...],
                 *, strict: bool = True) -> None:
        """`strict`: a bad file raises ConfigError; otherwise it is logged by the caller's
        next reload and the default route applies meanwhile."""
        self.path = path
        self.default_route = default_route
        self.configured = configured
        self._stamp: tuple[int, int, int] | None = None
        self.table = RoutingTable(default_route)
        if path is not None:
            try:
                self.table = self._read()
            except ConfigError:
                if strict:
                    raise
                self._stamp = None  # the next reload check reports it

    def reload_if_changed(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed (or `force`); True if a new table is in use.
        Raises ConfigError for a bad file, leaving the previous table in place."""
        if self.path is None or (not force and self._file_stamp() == self._stamp):
            return False
        self.table = self._read()
        return True

    def _file_stamp(self) -> tuple[int, int, int] | None:
        """What tells a change without reading the file: an edit in place changes the
        mtime or size, a replacement by rename (editors, config tools) the inode."""
        try:
            stat = os.stat(self.path) if self.path else None
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino) if stat else None

    def _read(self) -> RoutingTable:
        assert self.path is not None
        # a broken file is reported once, then again only when it changes
        self._stamp = self._file_stamp()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("routes file not found", where=str(self.path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read routes: {exc}", where=str(self.path)) from None
        return parse_routes_csv(text, self.path, self.default_route, self.configured)
