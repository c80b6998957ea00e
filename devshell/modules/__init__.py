"""Modules (addons): manifests, the addons path, dependency order, install, contributions.

A module is a folder on the addons path holding a ``__manifest__.py`` (a dict
literal, never executed). See :mod:`devshell.modules.install` for how data files
are loaded and :mod:`devshell.addon` for what a module's Python code may contribute.
Names are imported on first use, so ``devshell --help`` only pays for what it lists.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> submodule defining it
_LAZY = {
    "InitResult": "api", "init_database": "api", "install_modules": "api", "plan_install": "api",
    "shell_context_for": "api",
    "module_commands": "commands",
    "BUILTIN_ADDONS": "discovery", "Module": "discovery", "addons_paths": "discovery",
    "discover_modules": "discovery",
    "resolve_order": "graph",
    "InstallStep": "install", "apply_install": "install",
    "import_module": "loader", "load_contributions": "loader",
    "ModuleRow": "listing", "list_modules": "listing",
    "Manifest": "manifest", "ModuleError": "manifest", "read_manifest": "manifest",
    "installed_modules": "state",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from .api import InitResult as InitResult, init_database as init_database
    from .api import install_modules as install_modules, plan_install as plan_install
    from .api import shell_context_for as shell_context_for
    from .commands import module_commands as module_commands
    from .discovery import BUILTIN_ADDONS as BUILTIN_ADDONS, Module as Module
    from .discovery import addons_paths as addons_paths, discover_modules as discover_modules
    from .graph import resolve_order as resolve_order
    from .install import InstallStep as InstallStep, apply_install as apply_install
    from .loader import import_module as import_module, load_contributions as load_contributions
    from .listing import ModuleRow as ModuleRow, list_modules as list_modules
    from .manifest import Manifest as Manifest, ModuleError as ModuleError, read_manifest as read_manifest
    from .state import installed_modules as installed_modules


def __getattr__(name: str) -> Any:
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module 'devshell.modules' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
