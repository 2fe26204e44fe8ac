"""The package layering, read from the source with ast (no import runs).

Two rules (docs/layout.md):
- a module imports another package only through its public face: `mailferry.store`, never
  `mailferry.store.project_state` (inside a package, its own modules are free);
- a package imports only packages of a lower layer (or of its own), never upward.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mailferry"

# Lowest first. A package may import the packages of lower layers only; the modules of
# layer 0 (mailferry/errors.py, lazy.py, redact.py, sizes.py, status.py, urls.py) are
# shared by all and may use each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "lazy", "redact", "sizes", "status", "urls"),
    ("imap", "store"),
    ("engine",),
    ("project",),
    ("plan", "relay", "verify", "backup", "notify", "autoconfig"),
    ("batch", "report"),
    ("monitor", "web"),
    ("cli",),
    ("__main__",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _owner(path: Path) -> str:
    """The package (or top-level module) a source file belongs to."""
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every `mailferry.*` import, including those in functions.
    `from mailferry.x import y` counts as importing `mailferry.x.y` when y is a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                      if _is_module(f"{node.module}.{a.name}")
                      and a.name not in _public_names(node.module)]
    return [(line, name) for line, name in found if name.startswith("mailferry.")]


def _public_names(dotted: str) -> set[str]:
    """The names in a package's `__all__` (a function may share a submodule's name)."""
    init = SRC.parent.joinpath(*dotted.split("."), "__init__.py")
    if not init.is_file():
        return set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {elt.value for elt in getattr(node.value, "elts", [])
                    if isinstance(elt, ast.Constant) and isinstance(elt.value, str)}
    return set()


def _is_module(dotted: str) -> bool:
    path = SRC.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def private_imports(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        owner = _owner(path)
        for line, name in _imports(path):
            parts = name.split(".")
            package = parts[1]
            if package != owner and len(parts) > 2 and (SRC / package).is_dir():
                out.append(f"{path.relative_to(SRC.parent)}:{line}: imports {name} "
                           f"(use mailferry.{package})")
    return out


def upward_imports(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        owner = _owner(path)
        for line, name in _imports(path):
            package = name.split(".")[1]
            if package != owner and RANK[package] >= RANK[owner] and RANK[owner] > 0:
                out.append(f"{path.relative_to(SRC.parent)}:{line}: {owner} (layer "
                           f"{RANK[owner]}) imports {package} (layer {RANK[package]})")
    return out


def test_every_package_has_a_layer() -> None:
    names = {_owner(path) for path in _sources()}
    assert names - set(RANK) == set()


def test_packages_import_each_other_only_through_their_public_face() -> None:
    assert private_imports(_sources()) == []


def test_no_package_imports_upward() -> None:
    assert upward_imports(_sources()) == []


def test_every_package_declares_its_public_surface() -> None:
    missing = []
    for init in sorted(SRC.glob("*/__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        names = [t.id for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)]
        if "__all__" not in names:
            missing.append(init.parent.name)
    assert missing == []


@pytest.mark.parametrize(("source", "expected"), [
    ("from mailferry.store.project_state import ProjectState\n", "private"),
    ("from mailferry.imap import session\n", "private"),
    ("import mailferry.store.leases\n", "private"),
    ("from mailferry.store import ProjectState\n", None),
    ("from mailferry.cli import main\n", "upward"),
])
def test_the_checks_catch_what_they_should(tmp_path: Path, source: str,
                                           expected: str | None) -> None:
    """The rules themselves can fail: a module of `engine` written with each import."""
    module = SRC / "engine" / "_layering_probe.py"
    try:
        module.write_text(source, encoding="utf-8")
        found = {"private": private_imports([module]), "upward": upward_imports([module])}
    finally:
        module.unlink()
    assert {kind for kind, hits in found.items() if hits} == ({expected} if expected else set())


def module_cycles(paths: list[Path]) -> list[list[str]]:
    """Cycles among modules (imports inside functions count: they only hide a cycle)."""
    names = {".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__"): p
             for p in paths}
    graph = {name: {imported for _, imported in _imports(path) if imported in names
                    and imported != name and not name.startswith(imported + ".")}
             for name, path in names.items()}
    cycles, done = [], set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append([*trail[trail.index(name):], name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return cycles


def test_no_import_cycle_between_modules() -> None:
    assert module_cycles(_sources()) == []
