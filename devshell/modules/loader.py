"""A module's Python side: imported lazily as ``devshell_addons.<name>``, then asked what it contributes.

The package ``devshell_addons`` exists only in ``sys.modules``; each module folder
becomes its subpackage, so module code can use relative imports. Nothing is
imported until someone asks for contributions or commands.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import addon
from ..addon import ADDONS_PACKAGE, Contributions, ModuleCommand
from .discovery import Module
from .manifest import ModuleError

_lock = threading.RLock()

OnError = Callable[[Module, ModuleError], None]


def _namespace() -> types.ModuleType:
    package = sys.modules.get(ADDONS_PACKAGE)
    if package is None:
        spec = importlib.machinery.ModuleSpec(ADDONS_PACKAGE, None, is_package=True)
        spec.submodule_search_locations = []
        package = importlib.util.module_from_spec(spec)
        sys.modules[ADDONS_PACKAGE] = package
    return package


def _forget_imported(qualified: str) -> None:
    for name in [name for name in sys.modules if name == qualified or name.startswith(qualified + ".")]:
        del sys.modules[name]


def import_module(module: Module) -> types.ModuleType:
    """The module's package ``devshell_addons.<name>`` (its ``__init__.py`` run once, if it has one)."""
    qualified = f"{ADDONS_PACKAGE}.{module.name}"
    with _lock:
        namespace = _namespace()
        existing = sys.modules.get(qualified)
        if existing is not None and list(getattr(existing, "__path__", [])) == [str(module.path)]:
            return existing
        _forget_imported(qualified)  # never imported, or imported from another folder: start afresh
        addon.forget(module.name)
        init = module.path / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            qualified, init if init.is_file() else None, submodule_search_locations=[str(module.path)])
        if spec is None:  # a folder without __init__.py: an empty package so that cli.py can still load
            spec = importlib.machinery.ModuleSpec(qualified, None, is_package=True)
            spec.submodule_search_locations = [str(module.path)]
        package = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = package
        try:
            if spec.loader is not None:
                spec.loader.exec_module(package)
        except BaseException as exc:
            _forget_imported(qualified)
            addon.forget(module.name)
            raise _import_error(module, init, exc) from exc
        setattr(namespace, module.name, package)
        return package


def forget_module(name: str) -> None:
    """Forget module *name*'s imported code and registrations: the next import runs its files again."""
    with _lock:
        _forget_imported(f"{ADDONS_PACKAGE}.{name}")
        addon.forget(name)


def _import_error(module: Module, path: Path, exc: BaseException) -> ModuleError:
    if isinstance(exc, ModuleError):
        return exc
    text = str(exc).splitlines()[0] if str(exc) else ""
    return ModuleError(f"module {module.name!r} failed to import ({path}): {type(exc).__name__}"
                       + (f": {text}" if text else ""))


def cli_commands(module: Module) -> list[ModuleCommand]:
    """The click commands of the module's ``cli.py``: its ``commands`` list, else those it defines."""
    import click

    if not module.has_file("cli.py"):
        return []
    package = import_module(module)
    qualified = f"{package.__name__}.cli"
    with _lock:
        try:
            cli = importlib.import_module(qualified)
        except BaseException as exc:
            _forget_imported(qualified)
            raise _import_error(module, module.path / "cli.py", exc) from exc
    listed = getattr(cli, "commands", None)
    if listed is not None:
        if not isinstance(listed, (list, tuple)) or not all(isinstance(c, click.Command) for c in listed):
            raise ModuleError(f"{module.path / 'cli.py'}: 'commands' must be a list of click commands")
        found: list[Any] = list(listed)
    else:
        defined = [value for value in vars(cli).values()
                   if isinstance(value, click.Command)
                   and getattr(value.callback, "__module__", "").startswith(package.__name__)]
        nested = {id(sub) for group in defined if isinstance(group, click.Group) for sub in group.commands.values()}
        found = [command for command in defined if id(command) not in nested]  # a group's subcommands stay in it
    return [ModuleCommand(module.name, command) for command in found]


def load_contributions(modules: Iterable[Module], *, commands: bool = False,
                       on_error: OnError | None = None) -> Contributions:
    """Import *modules* (in the order given) and collect their routes, crons, factories, shell context.

    With *commands*, their ``cli.py`` commands too. A module that fails to import
    raises a :class:`ModuleError`, unless *on_error* is given: then it is reported
    there and skipped.
    """
    found = Contributions()
    for module in modules:
        try:
            if module.has_file("__init__.py"):
                import_module(module)
            items: list[Any] = addon.registered(module.name)
            if commands:
                items += cli_commands(module)
        except ModuleError as exc:
            if on_error is None:
                raise
            on_error(module, exc)
            continue
        found.add(items)
    return found
