"""Which source folder goes to which target folder.

Names are compared as logical paths: the namespace prefix ("INBOX.") removed, split on the
server's delimiter, decoded from modified UTF-7. So "INBOX.Projekte.Straße" on a '.' server
and "Projekte/Straße" on a '/' server are the same folder. A delimiter character *inside* a
component (a '/' in a name on a '.' server, moving to a '/' server) cannot be kept: it
becomes '_' and the plan says so, rather than the folder being skipped. Users write folder
names with '/' as the separator, without prefix: `--map "Old Stuff=Archive/Old"`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailferry.engine.message_filter import MessageFilter
from mailferry.imap import ListEntry, Namespace, decode_name, encode_name

SPECIAL_USES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive", "\\All", "\\Flagged")


@dataclass(frozen=True)
class Folder:
    wire: bytes
    path: tuple[str, ...]
    special_use: str | None
    selectable: bool
    subscribed: bool

    @property
    def display(self) -> str:
        return "/".join(self.path)


@dataclass(frozen=True)
class FolderPair:
    source: Folder
    target_wire: bytes
    target_display: str
    target_exists: bool
    subscribe: bool
    note: str = ""  # why the name changed, if it did


@dataclass(frozen=True)
class Excluded:
    source: Folder
    reason: str


@dataclass(frozen=True)
class FolderFilters:
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    exclude_special: Sequence[str] = ()
    renames: Sequence[tuple[str, str]] = ()  # --map SRC=DST, display names
    automap: bool = True
    # by age and size, inside every folder copied (copy and verify apply the same rule)
    messages: MessageFilter = field(default_factory=MessageFilter)


@dataclass
class FolderPlan:
    pairs: list[FolderPair] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)

    @property
    def to_create(self) -> list[FolderPair]:
        return [p for p in self.pairs if not p.target_exists]


def folders_from_listing(entries: Iterable[ListEntry], subscribed: set[bytes],
                         namespace: Namespace) -> list[Folder]:
    result: list[Folder] = []
    for entry in entries:
        delimiter = entry.delimiter or namespace.delimiter
        name = entry.name
        if name.upper() == b"INBOX":
            path: tuple[str, ...] = ("INBOX",)
        else:
            if namespace.prefix and name.startswith(namespace.prefix):
                name = name[len(namespace.prefix):]
            text = decode_name(name)
            path = tuple(text.split(delimiter)) if delimiter else (text,)
        uses = [a for a in entry.attributes if a.lower() in {u.lower() for u in SPECIAL_USES}]
        special = next((u for u in SPECIAL_USES if u.lower() in {a.lower() for a in uses}), None)
        result.append(Folder(entry.name, path, special, entry.selectable,
                             entry.name in subscribed))
    return result


def _wire_name(path: Sequence[str], namespace: Namespace) -> tuple[bytes, str]:
    delimiter = namespace.delimiter or "/"
    if list(path) == ["INBOX"]:
        return b"INBOX", ""
    prefix = namespace.prefix.decode()
    components = list(path)
    if prefix.upper() == f"INBOX{delimiter}".upper() and len(components) > 1 \
            and components[0].upper() == "INBOX":
        components = components[1:]  # "INBOX/Foo" on a plain server is "INBOX.Foo" here
    note = ""
    if any(delimiter in c for c in components):
        note = f"'{delimiter}' inside a name became '_' (the target's hierarchy delimiter)"
        components = [c.replace(delimiter, "_") for c in components]
    return encode_name(prefix + delimiter.join(components)), note


def _matches(display: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(display, p) for p in patterns)


def _renamed(path: tuple[str, ...], renames: dict[tuple[str, ...], tuple[str, ...]],
             ) -> tuple[str, ...] | None:
    for cut in range(len(path), 0, -1):
        if path[:cut] in renames:
            return renames[path[:cut]] + path[cut:]
    return None


def plan_folders(source: Sequence[Folder], target: Sequence[Folder], target_ns: Namespace,
                 filters: FolderFilters) -> FolderPlan:
    plan = FolderPlan()
    target_by_wire = {f.wire: f for f in target}
    target_by_use = {f.special_use: f for f in target if f.special_use}
    special_paths = {f.path: f.special_use for f in source if f.special_use}
    renames: dict[tuple[str, ...], tuple[str, ...]] = {}
    if filters.automap:
        for folder in source:
            if folder.special_use and folder.special_use in target_by_use:
                renames[folder.path] = target_by_use[folder.special_use].path
    for src, dst in filters.renames:
        renames[tuple(src.split("/"))] = tuple(dst.split("/"))
    excluded_specials = {u.lower() for u in filters.exclude_special}
    used_targets: set[bytes] = set()
    for folder in sorted(source, key=lambda f: (f.special_use is None, f.path)):
        use = next((special_paths[folder.path[:c]] for c in range(len(folder.path), 0, -1)
                    if folder.path[:c] in special_paths), None)
        if use and use.lower() in excluded_specials:
            plan.excluded.append(Excluded(folder, f"--exclude-special {use}"))
            continue
        if filters.include and not _matches(folder.display, filters.include):
            plan.excluded.append(Excluded(folder, "not matched by --include"))
            continue
        if _matches(folder.display, filters.exclude):
            plan.excluded.append(Excluded(folder, "matched by --exclude"))
            continue
        target_path = _renamed(folder.path, renames) or folder.path
        wire, note = _wire_name(target_path, target_ns)
        if wire in used_targets:  # two source folders would merge into one: keep them apart
            target_path = target_path[:-1] + (target_path[-1] + " (2)",)
            wire, _ = _wire_name(target_path, target_ns)
            note = f"renamed: another source folder already maps to {'/'.join(target_path)}"
        used_targets.add(wire)
        if target_path != folder.path and not note:
            note = "--map" if _explicit(folder.path, filters) else f"special use {use}"
        plan.pairs.append(FolderPair(folder, wire, "/".join(target_path),
                                     wire in target_by_wire, folder.subscribed, note))
    plan.pairs.sort(key=lambda p: p.target_display.count("/"))
    return plan


def _explicit(path: tuple[str, ...], filters: FolderFilters) -> bool:
    return any(path[: len(src.split("/"))] == tuple(src.split("/")) for src, _ in filters.renames)
