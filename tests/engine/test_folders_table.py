"""Folder planning by tables: listings to logical paths, paths to the target's wire names,
and whole plans with their notes and reasons (rows found by mutation testing)."""

from __future__ import annotations

import pytest

from mailferry.engine.folders import Folder, FolderFilters, folders_from_listing, plan_folders
from mailferry.imap import ListEntry, Namespace

DOT = Namespace(b"INBOX.", ".")
SLASH = Namespace(b"", "/")


def entry(name: bytes, delimiter: str | None = "/", *attrs: str) -> ListEntry:
    return ListEntry(name, delimiter, frozenset(attrs))


@pytest.mark.parametrize(("listed", "namespace", "path"), [
    (entry(b"INBOX"), SLASH, ("INBOX",)),
    (entry(b"inbox", "."), DOT, ("INBOX",)),  # INBOX in any case
    (entry(b"INBOX.Work.2019", "."), DOT, ("Work", "2019")),
    (entry(b"Work.2019", "."), DOT, ("Work", "2019")),  # outside the prefix: kept whole
    (entry(b"INBOXES", "."), DOT, ("INBOXES",)),
    (entry(b"A.B", None), DOT, ("A", "B")),  # no delimiter in LIST: the namespace's
    (entry(b"Old Stuff", None), Namespace(b"", None), ("Old Stuff",)),  # flat server
    (entry(b"Caf&AOk-/Stra&AN8-e"), SLASH, ("Café", "Straße")),
])
def test_paths_from_a_listing(listed: ListEntry, namespace: Namespace,
                              path: tuple[str, ...]) -> None:
    (folder,) = folders_from_listing([listed], set(), namespace)
    assert folder.path == path and folder.wire == listed.name


@pytest.mark.parametrize(("attrs", "special", "selectable"), [
    ((), None, True),
    (("\\Sent",), "\\Sent", True),
    (("\\sent", "\\HasNoChildren"), "\\Sent", True),  # attributes are case-insensitive
    (("\\Noselect", "\\Trash"), "\\Trash", False),
    (("\\NonExistent",), None, False),
    (("\\Important",), None, True),  # not a special use mailferry maps
])
def test_special_use_and_selectable(attrs: tuple[str, ...], special: str | None,
                                    selectable: bool) -> None:
    (folder,) = folders_from_listing([entry(b"X", "/", *attrs)], {b"X"}, SLASH)
    assert (folder.special_use, folder.selectable, folder.subscribed) == (
        special, selectable, True)


def folder(display: str, special: str | None = None, subscribed: bool = False) -> Folder:
    path = tuple(display.split("/"))
    return Folder(display.encode(), path, special, True, subscribed)


def plan_of(source: list[Folder], target_ns: Namespace = SLASH,
            target: list[Folder] | None = None, **filters: object,
            ) -> tuple[list[tuple[str, bytes, str]], list[tuple[str, str]]]:
    plan = plan_folders(source, target or [], target_ns, FolderFilters(**filters))  # type: ignore[arg-type]
    return ([(p.source.display, p.target_wire, p.note) for p in plan.pairs],
            [(e.source.display, e.reason) for e in plan.excluded])


@pytest.mark.parametrize(("path", "namespace", "wire", "note"), [
    ("INBOX", DOT, b"INBOX", ""),
    ("Work/2019", DOT, b"INBOX.Work.2019", ""),
    ("INBOX/Foo", DOT, b"INBOX.Foo", ""),  # "INBOX/Foo" on a plain server is INBOX.Foo
    ("inbox/Foo", DOT, b"INBOX.Foo", ""),
    ("inbox", DOT, b"INBOX.inbox", ""),  # not INBOX itself: a folder named so
    ("INBOX/INBOX/Foo", DOT, b"INBOX.INBOX.Foo", ""),  # only the first level is dropped
    ("Foo/INBOX", DOT, b"INBOX.Foo.INBOX", ""),
    ("INBOX/Foo", SLASH, b"INBOX/Foo", ""),
    ("Work/2019", Namespace(b"", None), b"Work/2019", ""),  # no delimiter said: '/'
    ("v1.2", DOT, b"INBOX.v1_2",
     "'.' inside a name became '_' (the target's hierarchy delimiter)"),
    ("Straße", DOT, b"INBOX.Stra&AN8-e", ""),
])
def test_target_wire_names(path: str, namespace: Namespace, wire: bytes, note: str) -> None:
    source = [Folder(path.encode(), tuple(path.split("/")), None, True, False)]
    assert plan_of(source, namespace)[0] == [(path, wire, note)]


def test_a_special_use_folder_takes_the_target_name_first() -> None:
    """Sorted special-use first: the \\Sent folder gets "Sent Items", the plain folder that
    happens to be called so gets " (2)", whatever the listing order."""
    target = [Folder(b"Sent Items", ("Sent Items",), "\\Sent", True, False)]
    for source in ([folder("Sent Items"), folder("Sent", "\\Sent")],
                   [folder("Sent", "\\Sent"), folder("Sent Items")]):
        pairs, _ = plan_of(source, target=target)
        assert sorted(pairs) == [
            ("Sent", b"Sent Items", "special use \\Sent"),
            ("Sent Items", b"Sent Items (2)",
             "renamed: another source folder already maps to Sent Items (2)")]


def test_a_merge_two_levels_down_renames_the_last_level_only() -> None:
    pairs, _ = plan_of([folder("A/B"), folder("C/B")], renames=(("C", "A"),))
    assert pairs == [("A/B", b"A/B", ""), (
        "C/B", b"A/B (2)", "renamed: another source folder already maps to A/B (2)")]


def test_filters_reasons_and_the_rest_still_planned() -> None:
    source = [folder("INBOX"), folder("Trash", "\\Trash"), folder("Trash/Old"),
              folder("Trash/Old/2019"), folder("Junk", "\\junk"), folder("Lists/a"),
              folder("Lists/b"), folder("Work"), folder("Work/x")]
    pairs, excluded = plan_of(source, exclude_special=("\\TRASH", "\\Junk"),
                              include=("INBOX", "Lists/*", "Work*"), exclude=("Lists/b",))
    assert [p[0] for p in pairs] == ["INBOX", "Work", "Lists/a", "Work/x"]
    assert sorted(excluded) == [
        ("Junk", "--exclude-special \\junk"), ("Lists/b", "matched by --exclude"),
        ("Trash", "--exclude-special \\Trash"), ("Trash/Old", "--exclude-special \\Trash"),
        ("Trash/Old/2019", "--exclude-special \\Trash")]
    pairs, excluded = plan_of([folder("a"), folder("b"), folder("c")], include=("b",))
    assert (pairs, excluded) == ([("b", b"b", "")], [("a", "not matched by --include"),
                                                      ("c", "not matched by --include")])
    pairs, excluded = plan_of([folder("a"), folder("b"), folder("c")], exclude=("a",))
    assert [p[0] for p in pairs] == ["b", "c"] and excluded == [("a", "matched by --exclude")]


def test_notes_say_why_a_name_changed() -> None:
    target = [Folder(b"Deleted Items", ("Deleted Items",), "\\Trash", True, False)]
    source = [folder("Trash", "\\Trash"), folder("Trash/Sub"), folder("Old Stuff/Sub"),
              folder("Old Stuff"), folder("Same")]
    pairs, _ = plan_of(source, target=target, renames=(("Old Stuff", "Archive/Old"),))
    assert pairs == [  # by depth of the target name, shallow first; special use first
        ("Trash", b"Deleted Items", "special use \\Trash"),
        ("Same", b"Same", ""),
        ("Old Stuff", b"Archive/Old", "--map"),
        ("Trash/Sub", b"Deleted Items/Sub", "special use \\Trash"),
        ("Old Stuff/Sub", b"Archive/Old/Sub", "--map"),
    ]
    # automap off: the special-use folder keeps its name
    pairs, _ = plan_of(source[:1], target=target, automap=False)
    assert pairs == [("Trash", b"Trash", "")]
    # an explicit --map wins over the special use, and says so
    pairs, _ = plan_of(source[:1], target=target, renames=(("Trash", "Bin"),))
    assert pairs == [("Trash", b"Bin", "--map")]
    # a --map of a folder two levels down too
    nested = [folder("Old/Trash", "\\Trash")]
    pairs, _ = plan_of(nested, target=target, renames=(("Old/Trash", "Bin"),))
    assert pairs == [("Old/Trash", b"Bin", "--map")]


def test_existing_targets_and_subscriptions() -> None:
    target = [Folder(b"Work", ("Work",), None, True, False)]
    plan = plan_folders([folder("Work", subscribed=True), folder("New")], target, SLASH,
                        FolderFilters())
    assert [(p.source.display, p.target_exists, p.subscribe) for p in plan.pairs] == [
        ("New", False, False), ("Work", True, True)]
    assert [p.source.display for p in plan.to_create] == ["New"]
