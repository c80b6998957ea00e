"""What a module's Python code may contribute, and the decorators that register it.

A module folder with an ``__init__.py`` is imported (lazily) as the package
``devshell_addons.<name>``; its code registers contributions with::

    from devshell import addon

    @addon.route("/library/books", methods=["GET"], auth="user", type="json")
    def books(request): ...

    @addon.cron("library.cleanup", interval=3600)
    def cleanup(env): ...

    @addon.factory("library_book", column="isbn")
    def isbn(*args): ...

    @addon.shell_context
    def names(env):
        return {"Book": env["library_book"]}

CLI commands live in the module's ``cli.py``: every click command defined there at
module level (or the ones listed in a ``commands`` list) becomes ``devshell <name>``.

Each contribution is plain data that knows its module; :func:`devshell.modules.load_contributions`
collects them for the server, cron, populate and the shell. This module is light to
import (no click, no psycopg2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar, overload

from .errors import DevshellError

ADDONS_PACKAGE = "devshell_addons"
AUTH_LEVELS = ("public", "user", "admin")
ROUTE_TYPES = ("http", "json")

F = TypeVar("F", bound=Callable[..., Any])


class AddonError(DevshellError):
    """A module registered something devshell cannot use."""


@dataclass(frozen=True)
class Route:
    """An HTTP endpoint: ``endpoint(request, **url_values)``; ``auth`` says who may call it."""

    module: str
    path: str
    endpoint: Callable[..., Any]
    methods: tuple[str, ...] = ("GET",)
    auth: str = "user"
    type: str = "http"


@dataclass(frozen=True)
class Cron:
    """A job run every ``interval`` seconds: ``function(env)``; ``target`` is its import path."""

    module: str
    name: str
    function: Callable[..., Any]
    interval: int

    @property
    def target(self) -> str:
        return f"{self.function.__module__}:{self.function.__qualname__}"


@dataclass(frozen=True)
class Factory:
    """A populate override: a whole row of ``table`` (``column`` None) or the values of one column."""

    module: str
    table: str
    column: str | None
    function: Callable[..., Any]


@dataclass(frozen=True)
class ShellContext:
    """``function(env) -> dict`` of names added to the shell's namespace."""

    module: str
    function: Callable[..., Any]


@dataclass(frozen=True)
class ModuleCommand:
    """A click command from a module's ``cli.py``."""

    module: str
    command: Any  # click.Command, kept untyped so this module does not import click

    @property
    def name(self) -> str:
        return str(self.command.name)


Contribution = Route | Cron | Factory | ShellContext


@dataclass
class Contributions:
    """Everything a set of modules contributes, in module install order."""

    routes: list[Route] = field(default_factory=list)
    crons: list[Cron] = field(default_factory=list)
    factories: list[Factory] = field(default_factory=list)
    shell_context: list[ShellContext] = field(default_factory=list)
    commands: list[ModuleCommand] = field(default_factory=list)

    def add(self, items: Iterable[Contribution | ModuleCommand]) -> None:
        lists: dict[type, list[Any]] = {Route: self.routes, Cron: self.crons, Factory: self.factories,
                                        ShellContext: self.shell_context, ModuleCommand: self.commands}
        for item in items:
            lists[type(item)].append(item)


#: devshell module name (or, outside an addon, the Python module name) -> its registrations
_registered: dict[str, list[Contribution]] = {}


def module_of(python_module: str) -> str:
    """``devshell_addons.library.routes`` -> ``library``; other names are returned as they are."""
    parts = python_module.split(".")
    if len(parts) >= 2 and parts[0] == ADDONS_PACKAGE:
        return parts[1]
    return python_module


def registered(module: str) -> list[Contribution]:
    """What *module* registered when it was imported."""
    return list(_registered.get(module, ()))


def forget(module: str) -> None:
    """Drop *module*'s registrations (before it is imported again)."""
    _registered.pop(module, None)


def _where(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


def _register(item: Contribution) -> None:
    _registered.setdefault(item.module, []).append(item)


def route(path: str, *, methods: Iterable[str] = ("GET",), auth: str = "user",
          type: str = "http") -> Callable[[F], F]:
    """Serve *path* (werkzeug rule syntax, e.g. ``/books/<int:id>``) with the decorated function."""
    def decorate(function: F) -> F:
        where = _where(function)
        if not isinstance(path, str) or not path.startswith("/"):
            raise AddonError(f"{where}: @addon.route path must start with '/', got {path!r}")
        if auth not in AUTH_LEVELS:
            raise AddonError(f"{where}: @addon.route auth must be one of {', '.join(AUTH_LEVELS)}, got {auth!r}")
        if type not in ROUTE_TYPES:
            raise AddonError(f"{where}: @addon.route type must be one of {', '.join(ROUTE_TYPES)}, got {type!r}")
        verbs = tuple(method.upper() for method in ([methods] if isinstance(methods, str) else methods))
        if not verbs:
            raise AddonError(f"{where}: @addon.route needs at least one HTTP method")
        _register(Route(module_of(function.__module__), path, function, verbs, auth, type))
        return function
    return decorate


def cron(name: str | None = None, *, interval: int) -> Callable[[F], F]:
    """Run the decorated ``function(env)`` every *interval* seconds (name defaults to module.function)."""
    def decorate(function: F) -> F:
        where = _where(function)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
            raise AddonError(f"{where}: @addon.cron interval must be a number of seconds > 0, got {interval!r}")
        module = module_of(function.__module__)
        _register(Cron(module, name or f"{module}.{function.__name__}", function, max(1, int(interval))))
        return function
    return decorate


def factory(table: str, column: str | None = None) -> Callable[[F], F]:
    """Let the decorated function generate rows of *table* (or only its *column*) for populate."""
    def decorate(function: F) -> F:
        if not isinstance(table, str) or not table:
            raise AddonError(f"{_where(function)}: @addon.factory needs a table name, got {table!r}")
        _register(Factory(module_of(function.__module__), table, column, function))
        return function
    return decorate


@overload
def shell_context(function: F) -> F: ...
@overload
def shell_context(function: None = None) -> Callable[[F], F]: ...


def shell_context(function: Callable[..., Any] | None = None) -> Any:
    """Add the names returned by ``function(env)`` to the shell (usable with or without parentheses)."""
    def decorate(function: F) -> F:
        _register(ShellContext(module_of(function.__module__), function))
        return function
    return decorate if function is None else decorate(function)
