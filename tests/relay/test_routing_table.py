"""The routes file by tables: what each line means, what is refused and with which words,
and when RoutesFile reads the file again (rows found by mutation testing of
relay/routing.py; no server: the table is plain data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailferry.errors import ConfigError
from mailferry.relay import parse_routes_csv
from mailferry.relay.routing import RoutesFile

BOTH = ("old", "new")
ROUTES = Path("routes.csv")


@pytest.mark.parametrize(("text", "routes"), [
    # blank lines, lines of blanks and commas only, comments (indented too) are skipped
    ("a@bank.example,new\n\n , \n,\n  # a note, old\n#x\n", {"a@bank.example": "new"}),
    # the header only on the first line, in any case
    ("Address , ROUTE\nb@bank.example , Both\n", {"b@bank.example": "both"}),
    ("", {}),
])
def test_lines_and_their_routes(text: str, routes: dict[str, str]) -> None:
    assert dict(parse_routes_csv(text, ROUTES, "old", BOTH).routes) == routes


NOT_AN_ADDRESS = "routes.csv:{}: address: {!r} is not an email address"


@pytest.mark.parametrize(("text", "message"), [
    ("ok@bank.example,old\naddress,route\n", NOT_AN_ADDRESS.format(2, "address")),
    ("al ice@bank.example,old\n", NOT_AN_ADDRESS.format(1, "al ice@bank.example")),
    ("@bank.example,old\n", "routes.csv:1: address: '@bank.example' is not an email address"),
    ("alice@,old\n", "routes.csv:1: address: 'alice@' is not an email address"),
    ("a@b@,old\n", "routes.csv:1: address: 'a@b@' is not an email address"),
    ("Alice,old\n", "routes.csv:1: address: 'Alice' is not an email address"),
    ("a@bank.example,both,x\n", "routes.csv:1: expected address,route; got 3 fields"),
    ("a@bank.example,Side\n", "routes.csv:1: route: 'Side': expected one of old, new, both"),
])
def test_refusals_word_for_word(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_routes_csv(text, ROUTES, "old", BOTH)
    assert str(caught.value) == message


def test_a_route_to_an_upstream_not_configured_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_routes_csv("a@bank.example,new\n", ROUTES, "old", ("old",))
    assert str(caught.value) == ("routes.csv:1: route: 'new' needs upstream 'new', which is "
                                 "not configured")


def test_the_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text("a@bank.example,new\n")
    routes = RoutesFile(path, "old", BOTH)
    assert routes.table.route_for("A@bank.example") == "new"
    assert routes.table.route_for("b@bank.example") == "old"
    assert routes.reload_if_changed() is False  # nothing changed
    # an edit in place of the same size and mtime, seen only by force
    stat = path.stat()
    path.write_text("a@bank.example,old\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert routes.reload_if_changed() is False and routes.table.route_for("a@bank.example") == "new"
    assert routes.reload_if_changed(force=True) is True
    assert routes.table.route_for("a@bank.example") == "old"
    # a replacement by rename (another inode), same size and mtime
    other = tmp_path / "routes.new"
    other.write_text("a@bank.example,new\n")
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    keep = tmp_path / "keep"
    os.link(path, keep)  # so the old inode number is not reused at once
    os.replace(other, path)
    assert routes.reload_if_changed() is True and routes.table.route_for("a@bank.example") == "new"
    # a longer file, same mtime
    path.write_text("a@bank.example,both\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert routes.reload_if_changed() is True and routes.table.route_for("a@bank.example") == "both"
    # a later mtime, same size
    path.write_text("a@bank.example,new \n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert routes.reload_if_changed() is True and routes.table.route_for("a@bank.example") == "new"


def test_a_broken_edit_keeps_the_table_and_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text("a@bank.example,new\n")
    routes = RoutesFile(path, "old", BOTH)
    path.write_text("a@bank.example,new\nbroken\n")
    with pytest.raises(ConfigError, match=r"routes.csv:2: expected address,route"):
        routes.reload_if_changed()
    assert routes.table.route_for("a@bank.example") == "new"  # the previous table stays
    assert routes.reload_if_changed() is False  # reported once, until the file changes
    path.unlink()
    with pytest.raises(ConfigError) as caught:
        routes.reload_if_changed()
    assert str(caught.value) == f"{path}: routes file not found"
    path.write_bytes(b"a@bank.example,new\n\xff\n")
    with pytest.raises(ConfigError, match=r"cannot read routes: 'utf-8' codec"):
        routes.reload_if_changed()


def test_strict_or_not_at_start(tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text("broken\n")
    with pytest.raises(ConfigError, match="expected address,route"):
        RoutesFile(path, "new", BOTH)
    lenient = RoutesFile(path, "new", BOTH, strict=False)
    assert lenient.table.route_for("a@bank.example") == "new"  # the default meanwhile
    with pytest.raises(ConfigError):  # and the next check reports it
        lenient.reload_if_changed()
    assert RoutesFile(None, "both", BOTH).reload_if_changed(force=True) is False
    assert RoutesFile(None, "both", BOTH).table.upstreams_for("x@y") == ("old", "new")
