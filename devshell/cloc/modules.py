"""What ``devshell cloc`` counts: the files of modules, per module and language.

A module's files in a known language are counted (hidden and cache folders,
symlinks and empty files left out, as cloc does); its manifest's
``cloc_exclude`` globs (relative to the module folder; a folder excludes
everything in it) leave more out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import UsageError
from .lines import Counts, count_lines, language_of

if TYPE_CHECKING:
    from ..config import Config
    from ..modules import Module
    from ..site import Site

SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


@dataclass
class ModuleCount:
    """One module's counts per language, and per file (relative path -> language, counts)."""

    name: str
    path: Path
    languages: dict[str, Counts] = field(default_factory=dict)
    files: dict[str, tuple[str, Counts]] = field(default_factory=dict)

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.languages.values():
            total.add(counts)
        return total


def excluded_files(root: Path, patterns: Iterable[str]) -> set[Path]:
    """Files matched by the ``cloc_exclude`` globs (a matched folder excludes all it holds)."""
    excluded: set[Path] = set()
    for pattern in patterns:
        for match in root.glob(pattern):
            if match.is_dir():
                excluded.update(path for path in match.rglob("*") if path.is_file())
            else:
                excluded.add(match)
    return excluded


def module_files(root: Path, exclude: Iterable[str] = ()) -> list[Path]:
    """The module's files in a known language: no hidden or cache folders, no symlinks, no excluded files."""
    excluded = excluded_files(root, exclude)
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in relative.parts):
            continue
        if path.is_symlink() or not path.is_file() or path in excluded or language_of(path) is None:
            continue
        if path.stat().st_size == 0:  # cloc ignores empty files
            continue
        found.append(path)
    return found


def count_module(module: "Module") -> ModuleCount:
    """Count one module (its manifest's ``cloc_exclude`` honoured)."""
    result = ModuleCount(module.name, module.path)
    for path in module_files(module.path, module.manifest.cloc_exclude):
        language = language_of(path)
        assert language is not None
        counts = count_lines(path.read_bytes(), language)
        result.files[path.relative_to(module.path).as_posix()] = (language, counts)
        result.languages.setdefault(language, Counts()).add(counts)
    result.languages = dict(sorted(result.languages.items()))
    return result


def modules_at(paths: Sequence[str | Path]) -> list["Module"]:
    """The modules of each path: a module folder, or a folder of modules."""
    from ..modules import discover_modules

    found: dict[str, Module] = {}
    for entry in paths:
        folder = Path(entry).expanduser().resolve()
        if not folder.is_dir():
            raise UsageError(f"-p {entry}: no such folder")
        modules = discover_modules([folder])
        if not modules:
            raise UsageError(f"-p {entry}: no module there (a module is a folder with a __manifest__.py)")
        for name, module in modules.items():
            found.setdefault(name, module)
    return [found[name] for name in sorted(found)]


def installed_in(site: "Site", db: str) -> tuple[list["Module"], list[str]]:
    """(the modules installed in *db* found on the addons path, the names that were not found)."""
    from ..modules import installed_modules

    conn = site.connect(db)
    try:
        with conn.cursor() as cr:
            names = sorted(installed_modules(cr))
    finally:
        conn.close()
    if not names:
        raise UsageError(f"database {db!r} has no devshell modules installed (devshell db init -d {db})")
    available = site.modules
    return [available[name] for name in names if name in available], [n for n in names if n not in available]


def project_modules(config: "Config") -> list["Module"]:
    """The modules of the configured addons path (devshell's own and deployed ones left out)."""
    from ..modules import discover_modules

    folders = [Path(entry) for entry in config["addons_path"] or []]
    if not folders:
        raise UsageError("no modules to count: give -p PATH or -d DB, or set addons_path (devshell.toml)")
    found = discover_modules(config.base_dir / folder for folder in folders)
    return [found[name] for name in sorted(found)]


@dataclass
class ClocReport:
    modules: list[ModuleCount]
    missing: list[str] = field(default_factory=list)  #: installed modules not found on the addons path

    @property
    def languages(self) -> dict[str, Counts]:
        totals: dict[str, Counts] = {}
        for module in self.modules:
            for language, counts in module.languages.items():
                totals.setdefault(language, Counts()).add(counts)
        return dict(sorted(totals.items()))

    @property
    def total(self) -> Counts:
        total = Counts()
        for module in self.modules:
            total.add(module.total)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "modules": [{"name": m.name, "path": str(m.path),
                         "languages": {lang: c.as_dict() for lang, c in m.languages.items()},
                         "total": m.total.as_dict()} for m in self.modules],
            "languages": {lang: c.as_dict() for lang, c in self.languages.items()},
            "total": self.total.as_dict(),
            "missing": self.missing,
        }


def cloc(paths: Sequence[str | Path] = (), db: str | None = None, *, site: "Site | None" = None) -> ClocReport:
    """Count the modules at *paths*, or those installed in *db*, or the project's (*site*: default the cwd's)."""
    from ..site import Site

    missing: list[str] = []
    if paths:
        modules = modules_at(paths)
    else:
        site = Site.of(site)
        if db:
            modules, missing = installed_in(site, db)
        else:
            modules = project_modules(site.config)
    return ClocReport([count_module(module) for module in modules], missing)
