"""The package layout holds: no import cycle between areas of devshell/, and the lower layers never import up.

The imports are read from the source with ``ast``; nothing is imported. What counts as an import:

- every ``import`` and ``from … import`` statement anywhere in a module: at module level, inside
  functions and methods, under ``if TYPE_CHECKING:``, in ``try``/``except`` blocks;
- relative imports are resolved against the importing module's package;
- ``import a.b.c`` is an edge to the module ``a.b.c``; ``from a.b import c`` to the module ``a.b.c`` when
  there is one, else to ``a.b`` (``c`` is a name defined there: ``from devshell import __version__`` is an
  edge to ``devshell/__init__.py``); the ``__init__`` of the enclosing packages, which Python also runs,
  is not counted (every module would otherwise depend on ``devshell/__init__.py``);
- an import of a devshell module that does not exist is reported by a test of its own;
- imports of names outside devshell are ignored, and so are dotted paths held in strings
  (``importlib.import_module("…")``, ``python -m …``, gunicorn app paths).

A module is part of devshell when every folder from ``devshell/`` down to it has an ``__init__.py`` (so
the scaffold templates and the bundled addons' manifests are not). Modules group into *areas*: the
package a module sits in (``devshell/server/web/app.py`` is in ``devshell.server.web``, and so is that
package's ``__init__.py``), except that every module directly in ``devshell/`` (``cli``, ``config``,
``errors``, …, and ``devshell/__init__.py`` as ``devshell``) is an area of its own: the root package is a
namespace, not a layer.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "devshell"


@dataclass(frozen=True)
class Import:
    """One import statement of devshell's code that names another devshell module."""

    source: str  #: the importing module
    target: str  #: the imported module
    line: int
    exists: bool = True  #: False when *target* names no module of the package (a stale import)

    def __str__(self) -> str:
        return f"{self.source} imports {self.target} (line {self.line})"


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for the importable modules under *package_dir*."""
    root = package_dir.name
    modules: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).parts
        folders = [package_dir.joinpath(*parts[:depth]) for depth in range(len(parts))]
        if not all((folder / "__init__.py").is_file() for folder in folders):
            continue  # in a folder that is not a package (scaffold templates, addon manifests)
        names = [root, *parts[:-1]]
        if path.stem != "__init__":
            names.append(path.stem)
        modules[".".join(names)] = path
    return modules


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> list[Import]:
    """Every import in *path* (module *module*) of another module of the same root package.

    An import naming a module that does not exist (``from .gone import x``) is kept with ``exists`` False.
    """
    root = module.split(".")[0]
    with warnings.catch_warnings():  # compile-time warnings (an invalid escape, …) are not this test's business
        warnings.simplefilter("ignore")
        tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[Import] = set()
    for node in ast.walk(tree):
        targets: list[tuple[str, bool]]  # (module, exists)
        if isinstance(node, ast.Import):
            targets = [(alias.name, alias.name in modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base = ".".join(base_parts[:len(base_parts) - node.level + 1])
                stem = f"{base}.{node.module}" if node.module else base
            else:
                stem = node.module or ""
            if stem not in modules:
                targets = [(stem, False)]
            else:  # `from a import b`: the module a.b when there is one, else a name defined in a
                targets = [(f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem, True)
                           for alias in node.names]
        else:
            continue
        for target, exists in targets:
            if target.split(".")[0] == root and target != module:
                found.add(Import(module, target, node.lineno, exists))
    return sorted(found, key=lambda edge: (edge.line, edge.target))


def all_imports(package_dir: Path) -> list[Import]:
    modules = module_files(package_dir)
    return [edge for module, path in modules.items() for edge in imports_of(module, path, modules)]


def import_graph(package_dir: Path) -> list[Import]:
    """The imports between existing modules of the package in *package_dir*."""
    return [edge for edge in all_imports(package_dir) if edge.exists]


def area(module: str, modules: Mapping[str, Path]) -> str:
    """The area of *module*: its package, or the module itself when it sits directly in the root package."""
    if modules[module].name == "__init__.py":
        return module
    package = module.rpartition(".")[0]
    return module if "." not in package else package


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle ``[a, b, …, a]`` per strongly connected component of more than one node (Tarjan).

    Self-loops are not reported: an area importing itself is no crossing.
    """
    successors = {node: sorted(set(targets) - {node}) for node, targets in graph.items()}
    for targets in list(successors.values()):
        for target in targets:
            successors.setdefault(target, [])
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the few dozen areas
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in successors[node]:
            if target not in index:
                visit(target)
                lowlink[node] = min(lowlink[node], lowlink[target])
            elif target in on_stack:
                lowlink[node] = min(lowlink[node], index[target])
        if lowlink[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(successors):
        if node not in index:
            visit(node)
    return [_shortest_cycle(component[0], set(component), successors) for component in sorted(components)]


def _shortest_cycle(start: str, members: set[str], successors: Mapping[str, list[str]]) -> list[str]:
    """The shortest path from *start* back to itself inside one strongly connected component."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in successors[node]:
                if target not in members:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is on no cycle inside {sorted(members)}")


def area_cycles(package_dir: Path) -> list[str]:
    """Each cycle between areas, spelled out with the module imports that make its edges."""
    modules = module_files(package_dir)
    crossing: dict[tuple[str, str], list[Import]] = {}
    for edge in import_graph(package_dir):
        source, target = area(edge.source, modules), area(edge.target, modules)
        if source != target:
            crossing.setdefault((source, target), []).append(edge)
    graph: dict[str, set[str]] = {}
    for source, target in crossing:
        graph.setdefault(source, set()).add(target)
    reports = []
    for cycle in find_cycles(graph):
        knot = {node for node in graph if _reaches(graph, node, cycle[0]) and _reaches(graph, cycle[0], node)}
        lines = [f"{' -> '.join(cycle)}   (all the areas in this knot: {', '.join(sorted(knot))})"]
        for source, target in sorted(crossing):
            if source in knot and target in knot:
                lines.append(f"  {source} -> {target}:")
                lines.extend(f"    {edge}" for edge in crossing[(source, target)])
        reports.append("\n".join(lines))
    return reports


def _reaches(graph: Mapping[str, Iterable[str]], source: str, target: str) -> bool:
    seen, todo = {source}, [source]
    while todo:
        for node in graph.get(todo.pop(), ()):
            if node == target:
                return True
            if node not in seen:
                seen.add(node)
                todo.append(node)
    return False


def imports_from(package_dir: Path, lower: str, forbidden: tuple[str, ...]) -> list[Import]:
    """The imports of modules in *lower* (a package and its subpackages) of modules in *forbidden* ones."""
    def inside(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    return [edge for edge in import_graph(package_dir)
            if inside(edge.source, lower) and any(inside(edge.target, other) for other in forbidden)]


# -- devshell itself ----------------------------------------------------------------------------------

def test_every_import_names_an_existing_module() -> None:
    stale = [edge for edge in all_imports(PACKAGE_DIR) if not edge.exists]
    assert not stale, "imports of modules that do not exist:\n" + "\n".join(f"  {edge}" for edge in stale)


def test_no_import_cycle_crosses_an_area_boundary() -> None:
    cycles = area_cycles(PACKAGE_DIR)
    assert not cycles, "import cycles between areas of devshell/:\n" + "\n".join(cycles)


@pytest.mark.parametrize(("lower", "forbidden"), [
    ("devshell.orm", ("devshell.server",)),
    ("devshell.messaging", ("devshell.server", "devshell.orm")),
])
def test_lower_layers_do_not_import_upwards(lower: str, forbidden: tuple[str, ...]) -> None:
    assert lower in module_files(PACKAGE_DIR), f"{lower} is not a package of devshell/"
    upward = imports_from(PACKAGE_DIR, lower, forbidden)
    assert not upward, f"{lower} imports {' or '.join(forbidden)}:\n" + "\n".join(f"  {edge}" for edge in upward)


# -- the checker itself, on synthetic input -------------------------------------------------------------

def test_find_cycles_on_a_synthetic_graph() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": ["d", "f"], "f": ["f"], "g": ["a"]}
    cycles = find_cycles(graph)
    assert [sorted(set(cycle)) for cycle in cycles] == [["a", "b", "c"], ["d", "e"]]
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert all(target in graph[source] for source, target in zip(cycle, cycle[1:]))
    assert find_cycles({"a": ["b", "c"], "b": ["c"], "c": [], "d": ["d"]}) == []
    assert find_cycles({"a": ["b", "c"], "b": ["a"], "c": ["a"]}) == [["a", "b", "a"]]  # a shortest one


def write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_imports_are_read_everywhere_and_resolved(tmp_path: Path) -> None:
    package = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/core.py": "import os\n",
        "pkg/low/__init__.py": "from .util import thing\n",
        "pkg/low/util.py": "import pkg.core\n\ndef thing():\n    from ..high import view\n",
        "pkg/high/__init__.py": "",
        "pkg/high/view.py": ("from typing import TYPE_CHECKING\nfrom .. import core\nfrom pkg.low import missing_name\n"
                             "if TYPE_CHECKING:\n    from ..low.util import thing\n"),
        "pkg/templates/demo/__init__.py": "from pkg import high\n",  # templates/ has no __init__.py
        "pkg/stale.py": "import json\nfrom .gone import x\nimport pkg.nothing\n",
    })
    modules = module_files(package)
    assert sorted(modules) == ["pkg", "pkg.core", "pkg.high", "pkg.high.view", "pkg.low", "pkg.low.util", "pkg.stale"]
    assert [str(edge) for edge in all_imports(package) if not edge.exists] == [
        "pkg.stale imports pkg.gone (line 2)", "pkg.stale imports pkg.nothing (line 3)"]
    edges = {(edge.source, edge.target) for edge in import_graph(package)}
    assert edges == {
        ("pkg.low", "pkg.low.util"),
        ("pkg.low.util", "pkg.core"),
        ("pkg.low.util", "pkg.high.view"),  # inside a function
        ("pkg.high.view", "pkg.core"),  # `from .. import core`: the module, not the package
        ("pkg.high.view", "pkg.low"),  # missing_name is no module: the package itself
        ("pkg.high.view", "pkg.low.util"),  # under TYPE_CHECKING
    }
    assert area("pkg.core", modules) == "pkg.core" and area("pkg", modules) == "pkg"
    assert area("pkg.low", modules) == area("pkg.low.util", modules) == "pkg.low"
    cycles = area_cycles(package)
    assert len(cycles) == 1 and cycles[0].splitlines()[0].startswith("pkg.high -> pkg.low -> pkg.high")
    assert "pkg.low.util imports pkg.high.view (line 4)" in cycles[0]
    assert [str(edge) for edge in imports_from(package, "pkg.low", ("pkg.high",))] == [
        "pkg.low.util imports pkg.high.view (line 4)"]
