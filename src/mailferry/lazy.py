"""Names of a package that load on first use (PEP 562): the package's public surface stays
one import, and a command that never touches a heavy module never pays for importing it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_names(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package`: name -> the submodule that defines it. A name
    may not be its submodule's: once that submodule is imported (by anyone), the package's
    attribute of that name is the submodule, and __getattr__ is never asked."""
    clashes = sorted(name for name, module in modules.items() if name == module)
    if clashes:
        raise ValueError(f"{package}: lazy names that are their module's: {clashes}")

    def __getattr__(name: str) -> object:
        if name in modules:
            return getattr(importlib.import_module(f"{package}.{modules[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
