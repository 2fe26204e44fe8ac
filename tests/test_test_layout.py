"""The tests' own layout (docs/layout.md): helpers live in the test bed, an importable
package of the tests (pyproject's pytest `pythonpath`), never reached by editing sys.path or
by importing a module of another test folder."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _modules() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def path_edits(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr == "path"
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                out.append(f"{path.relative_to(TESTS)}:{node.lineno}: sys.path")
    return out


def borrowed_modules(paths: list[Path]) -> list[str]:
    """Imports of a module that sits in a test folder (not the test bed): a helper there is
    reachable only through a path edit or pytest's rootdir insertion of that folder."""
    local = {p.stem for p in paths if p.parent != TESTS and "testbed" not in p.parts}
    out = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     and node.level == 0 else [])
            out += [f"{path.relative_to(TESTS)}:{node.lineno}: imports {name}"
                    for name in names if name.split(".")[0] in local]
    return out


def test_no_test_module_edits_sys_path() -> None:
    assert path_edits(_modules()) == []


def test_helpers_come_from_the_test_bed_only() -> None:
    assert borrowed_modules(_modules()) == []


def test_kits_are_named_alike() -> None:
    """A kit is `testbed/<area>kit.py`: what the tests of one area share."""
    helpers = {p.stem for p in (TESTS / "testbed").glob("*.py")}
    assert not {name for name in helpers if "helper" in name}
