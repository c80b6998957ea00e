"""Dependency order: which modules an install needs, parents first.

``base`` is an implicit dependency of every module. The order is deterministic:
among modules whose dependencies are all placed, the alphabetically first goes next.
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .discovery import Module
from .manifest import ModuleError

BASE = "base"


def dependencies(module: Module) -> list[str]:
    """The module's declared dependencies plus the implicit ``base``."""
    depends = list(dict.fromkeys(module.manifest.depends))
    if module.name != BASE and BASE not in depends:
        depends.insert(0, BASE)
    return depends


def _where(paths: Sequence[Path]) -> str:
    return ", ".join(str(path) for path in paths) or "no folders"


def _nearby(name: str) -> str:
    """The hint for a module that sits in a folder near the cwd but not on the addons path ("" if none)."""
    from .discovery import addons_path_advice, find_module_nearby

    found = find_module_nearby(name)
    if found is None:
        return ""
    return f"; it is in {found.parent}: {addons_path_advice(found.parent)}"


def _closure(available: Mapping[str, Module], names: Iterable[str],
             paths: Sequence[Path]) -> dict[str, list[str]]:
    """{name: dependencies} for *names* and everything they need; cycles and gaps raise."""
    graph: dict[str, list[str]] = {}
    done: set[str] = set()
    stack: list[str] = []

    def visit(name: str, needed_by: str | None) -> None:
        if name in done:
            return
        if name in stack:
            cycle = stack[stack.index(name):] + [name]
            raise ModuleError("circular module dependencies: " + " -> ".join(cycle))
        module = available.get(name)
        if module is None:
            if needed_by is None:
                raise ModuleError(f"module {name!r} is not on the addons path ({_where(paths)}){_nearby(name)}",
                                  exit_code=2)
            raise ModuleError(f"module {needed_by!r} depends on {name!r}, which is not on the addons path "
                              f"({_where(paths)})")
        if not module.manifest.installable:
            reason = f" (needed by {needed_by!r})" if needed_by else ""
            raise ModuleError(f"module {name!r}{reason} is not installable: 'installable' is False in "
                              f"{module.manifest.path}")
        graph[name] = dependencies(module)
        stack.append(name)
        for dependency in sorted(graph[name]):
            visit(dependency, name)
        stack.pop()
        done.add(name)

    for name in sorted(set(names)):
        visit(name, None)
    return graph


def resolve_order(available: Mapping[str, Module], names: Iterable[str],
                  paths: Sequence[Path] = ()) -> list[Module]:
    """*names* and their dependencies, each after everything it depends on.

    *paths* only serves the error messages (where the modules were searched).
    """
    graph = _closure(available, names, paths)
    waiting = {name: set(depends) for name, depends in graph.items()}
    dependents: dict[str, list[str]] = {name: [] for name in graph}
    for name, depends in graph.items():
        for dependency in depends:
            dependents[dependency].append(name)
    ready = [name for name, depends in waiting.items() if not depends]
    heapq.heapify(ready)
    order: list[Module] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(available[name])
        for dependent in dependents[name]:
            waiting[dependent].discard(name)
            if not waiting[dependent]:
                heapq.heappush(ready, dependent)
    assert len(order) == len(graph), "cycles are caught while walking the graph"
    return order
