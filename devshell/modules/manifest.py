"""``__manifest__.py``: a module's description, read as a dict literal and never executed.

The file is parsed with :mod:`ast` and its one expression evaluated with
:func:`ast.literal_eval`, so a manifest cannot run code: ``dict(name="x")`` or a
function call is refused with the file named, not called.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import DevshellError

MANIFEST_FILE = "__manifest__.py"
DATA_SUFFIXES = (".sql", ".csv")
POPULATE_SIZES = ("small", "medium", "large")
DEFAULT_VERSION = "0.1.0"


class ModuleError(DevshellError):
    """A module cannot be read, resolved or installed."""


@dataclass(frozen=True)
class Manifest:
    """The validated content of a ``__manifest__.py``.

    ``populate`` maps a table to its row count per size (``{"small": 5, "large": 50}``)
    or to one count whatever the size, or to declared counts and column distributions
    (``{"count": 50, "columns": {...}}``, see :mod:`devshell.populate.spec`); ``warnings``
    lists keys nobody knows.
    """

    path: Path
    name: str
    version: str = DEFAULT_VERSION
    summary: str = ""
    depends: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    cloc_exclude: tuple[str, ...] = ()
    installable: bool = True
    populate: dict[str, int | dict[str, Any]] = field(default_factory=dict)
    author: str = ""
    license: str = ""
    warnings: tuple[str, ...] = ()


def _fail(path: Path, message: str) -> ModuleError:
    return ModuleError(f"{path}: {message}")


def _string(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"{key!r} must be a string, got {type(value).__name__} {value!r}")
    return value


def _strings(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise _fail(path, f"{key!r} must be a list of strings, got {value!r}")
    return tuple(value)


def _data_files(path: Path, value: Any) -> tuple[str, ...]:
    """Relative paths inside the module, ending in .sql or .csv, that exist."""
    files = _strings(path, "data", value)
    root = path.parent
    for name in files:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or not name.strip():
            raise _fail(path, f"'data' entry {name!r} must be a relative path inside the module")
        if pure.suffix.lower() not in DATA_SUFFIXES:
            raise _fail(path, f"'data' entry {name!r} must be a .sql or .csv file")
        if not (root / pure).is_file():
            raise _fail(path, f"'data' entry {name!r}: no such file in {root}")
    return files


def _populate(path: Path, value: Any) -> dict[str, Any]:
    def count(key: str, number: Any) -> int:
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise _fail(path, f"'populate' {key}: expected a row count (an integer >= 0), got {number!r}")
        return number

    if not isinstance(value, dict):
        raise _fail(path, f"'populate' must be a dict of table -> row count, got {value!r}")
    sizes: dict[str, Any] = {}
    for table, spec in value.items():
        table = _string(path, "populate", table)
        if isinstance(spec, dict) and ("columns" in spec or "count" in spec and (
                "per" not in spec or not isinstance(spec["count"], int))):
            sizes[table] = _declared(path, table, spec)  # column distributions (devshell.populate.spec)
        elif isinstance(spec, dict) and "per" in spec:  # relative: {"per": "order", "count": 10} rows per parent row
            if set(spec) - {"per", "count"}:
                raise _fail(path, f"'populate' {table}: a relative size has only 'per' and 'count', got {spec!r}")
            sizes[table] = {"per": _string(path, f"populate {table}.per", spec["per"]),
                            "count": count(f"{table}.count", spec.get("count", 1))}
        elif isinstance(spec, dict):
            unknown = sorted(set(spec) - set(POPULATE_SIZES))
            if unknown:
                raise _fail(path, f"'populate' {table}: unknown size {unknown[0]!r} (use {', '.join(POPULATE_SIZES)})")
            sizes[table] = {size: count(f"{table}.{size}", n) for size, n in spec.items()}
        else:
            sizes[table] = count(table, spec)
    return sizes


def _declared(path: Path, table: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A table's declared counts and column distributions, kept as written.

    Their grammar belongs to populate (modules sit below it), which checks them
    when it reads the installed modules: a bad one is then one line naming the
    module, the table and the column.
    """
    return spec


def _installable(path: Path, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"'installable' must be True or False, got {value!r}")
    return value


def _version(path: Path, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise _fail(path, f"'version' must be a string such as '{value}' (quoted), got the number {value!r}")
    version = _string(path, "version", value).strip()
    if not version:
        raise _fail(path, "'version' cannot be empty")
    return version


#: known keys -> how to check them
_KEYS = {
    "name": lambda path, value: _string(path, "name", value),
    "version": _version,
    "summary": lambda path, value: _string(path, "summary", value),
    "description": lambda path, value: _string(path, "description", value),
    "depends": lambda path, value: _strings(path, "depends", value),
    "data": _data_files,
    "cloc_exclude": lambda path, value: _strings(path, "cloc_exclude", value),
    "installable": _installable,
    "populate": _populate,
    "author": lambda path, value: _string(path, "author", value),
    "license": lambda path, value: _string(path, "license", value),
}


_LITERAL_NODES = (ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Constant, ast.UnaryOp, ast.UAdd, ast.USub,
                  ast.Load, ast.BinOp, ast.Add, ast.Sub)


def _first_non_literal(root: ast.expr) -> ast.expr:
    for node in ast.walk(root):
        if not isinstance(node, _LITERAL_NODES) and isinstance(node, ast.expr):
            return node
    return root


def _describe(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    return f"a {type(node).__name__} expression"


def literal_dict(path: Path) -> dict[Any, Any]:
    """The dict literal in *path*, without executing anything."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        tree = ast.parse(source, filename=str(path), mode="exec")
    except SyntaxError as exc:
        raise _fail(path, f"syntax error on line {exc.lineno}: {exc.msg}") from None
    body = [node for node in tree.body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str) and node is not tree.body[-1])]
    if len(body) != 1 or not isinstance(body[0], ast.Expr) or not isinstance(body[0].value, ast.Dict):
        raise _fail(path, "must hold a single dict literal {...} (no statements, no dict() call)")
    try:
        value = ast.literal_eval(body[0].value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        node = _first_non_literal(body[0].value)
        raise _fail(path, f"line {node.lineno}: {_describe(node)} is not a literal "
                          "(only strings, numbers, lists, tuples, dicts, True/False/None)") from None
    assert isinstance(value, dict)
    return value


def read_manifest(path: Path, default_name: str) -> Manifest:
    """Read and validate a manifest; every error names the file and the key."""
    raw = literal_dict(path)
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            raise _fail(path, f"keys must be strings, got {key!r}")
        check = _KEYS.get(key)
        if check is None:
            warnings.append(f"{path}: unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
            continue
        values[key] = check(path, value)
    values.pop("description", None)  # accepted (Odoo manifests have it) but not used
    values.setdefault("name", default_name)
    return Manifest(path=path, warnings=tuple(warnings), **values)
