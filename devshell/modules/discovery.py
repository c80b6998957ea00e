"""The addons path and the modules found on it.

Finding modules only lists folders holding a ``__manifest__.py``; a manifest is
read (with :mod:`ast`, never executed) the first time someone asks for it, so a
broken module only fails the operations that need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ..errors import UsageError
from .manifest import MANIFEST_FILE, Manifest, ModuleError, read_manifest

if TYPE_CHECKING:
    from ..config import Config

logger = logging.getLogger(__name__)

#: devshell's own modules (``base``), shipped inside the package
BUILTIN_ADDONS = Path(__file__).resolve().parent.parent / "addons"


@dataclass(eq=False)
class Module:
    """A module folder on the addons path; ``shadowed`` lists same-named folders further down the path."""

    name: str
    path: Path
    shadowed: list[Path] = field(default_factory=list)
    _manifest: Manifest | None = field(default=None, repr=False)

    @property
    def manifest(self) -> Manifest:
        """The validated manifest, read on first use (a :class:`ModuleError` when it is broken)."""
        if self._manifest is None:
            if not self.name.isidentifier():
                raise ModuleError(f"{self.path}: a module's folder name must be a Python identifier "
                                  f"(letters, digits, _), not {self.name!r}")
            self._manifest = read_manifest(self.path / MANIFEST_FILE, self.name)
        return self._manifest

    @property
    def version(self) -> str:
        return self.manifest.version

    def has_file(self, name: str) -> bool:
        return (self.path / name).is_file()


def addons_paths(config: "Config", override: Sequence[str] | None = None) -> list[Path]:
    """Where modules are searched, in order: built-in, configured (or *override*), deployed.

    The built-in folder comes first so that no project can shadow ``base``;
    deployed modules (``<data_dir>/addons``) come last.
    """
    configured = list(override) if override is not None else list(config["addons_path"] or [])
    paths = [BUILTIN_ADDONS]
    for entry in configured:
        folder = (config.base_dir / Path(entry).expanduser()).resolve()
        if not folder.is_dir():
            where = "--addons-path" if override is not None else config.sources.get("addons_path", "addons_path")
            raise UsageError(f"addons path entry {entry!r} ({where}) is not a folder")
        if folder not in paths:
            paths.append(folder)
    deployed = (config.data_dir / "addons").resolve()
    if deployed not in paths:
        paths.append(deployed)
    return paths


def _module_folders(entry: Path) -> Iterable[Path]:
    """The module folders in one addons path entry (an entry that is itself a module counts as one)."""
    if (entry / MANIFEST_FILE).is_file():
        yield entry
        return
    try:
        children = sorted(entry.iterdir())
    except OSError:
        return  # a missing deployed-addons folder, or one we may not read: nothing to offer
    for child in children:
        if (child / MANIFEST_FILE).is_file():
            yield child


def discover_modules(paths: Iterable[Path]) -> dict[str, Module]:
    """{name: Module} for every module on *paths*; the first folder of a name wins (like Odoo)."""
    found: dict[str, Module] = {}
    for entry in paths:
        for folder in _module_folders(Path(entry)):
            name = folder.name
            if name in found:
                found[name].shadowed.append(folder)
            else:
                found[name] = Module(name, folder)
    return found


def addons_path_advice(folder: Path, base: Path | None = None) -> str:
    """How to put *folder* (a folder of modules) on the addons path, said relative to *base* (the cwd)."""
    import json
    import os
    import shlex

    base = (base or Path.cwd()).resolve()
    folder = folder.resolve()
    shown = os.path.relpath(folder, base) if folder == base or base in folder.parents else str(folder)
    return f"pass --addons-path {shlex.quote(shown)}, or add addons_path = [{json.dumps(shown)}] to devshell.toml"


def find_module_nearby(name: str, start: Path | None = None) -> Path | None:
    """A folder *name* holding a manifest at most two folders below *start* (the cwd), hidden ones skipped.

    Used only to explain a module that is not on the addons path (just scaffolded
    into ``addons/``, say), so the walk is short and happens only on that error.
    """
    if not name.isidentifier():  # never a glob pattern
        return None
    start = (start or Path.cwd()).resolve()
    for pattern in (name, f"*/{name}", f"*/*/{name}"):
        for candidate in sorted(start.glob(pattern)):
            hidden = any(part.startswith(".") for part in candidate.relative_to(start).parts)
            if not hidden and (candidate / MANIFEST_FILE).is_file():
                return candidate
    return None


class AddonsPath:
    """A configuration's addons path and the modules on it, each worked out once, on first use.

    :class:`devshell.site.Site` holds one; the module operations take it (or make
    one for a bare configuration), so a command scans the path once.
    *override* replaces the configured folders (``--addons-path``).
    """

    def __init__(self, config: "Config", override: Sequence[str] | None = None) -> None:
        self.config = config
        self.override = list(override) if override is not None else None
        self._paths: list[Path] | None = None
        self._modules: dict[str, Module] | None = None

    @property
    def paths(self) -> list[Path]:
        """The folders searched, in order (see :func:`addons_paths`); a bad entry is a usage error."""
        if self._paths is None:
            self._paths = addons_paths(self.config, self.override)
        return self._paths

    @property
    def modules(self) -> dict[str, Module]:
        """``{name: Module}`` on :attr:`paths`, scanned on first use."""
        if self._modules is None:
            self._modules = discover_modules(self.paths)
            logger.debug("addons path scanned: %d modules in %s", len(self._modules),
                         ", ".join(str(path) for path in self.paths))
        return self._modules

    def rescan(self) -> dict[str, Module]:
        """Scan again (a module was deployed or changed on disk) and return the modules."""
        self._modules = None
        return self.modules
