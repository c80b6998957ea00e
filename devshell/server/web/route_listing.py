"""Every route a server serves, the way it serves them: ``devshell routes`` and the index page.

:func:`app_routes` is the one list the WSGI application builds its rule map from
(devshell's own routes, then the modules', then the index page at ``/`` unless a
module serves it), so what ``devshell routes`` prints is what the server answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

from ...addon import Route
from .routing import BUILTIN, build_map

if TYPE_CHECKING:
    from ...modules.discovery import Module
    from ...modules.manifest import ModuleError
    from ...site import Site

INDEX_PATH = "/"
STATIC_RULE = "/<module>/static/<path:filename>"


def app_routes(list_db: bool, module_routes: Iterable[Route]) -> list[Route]:
    """devshell's routes, then the modules' (first claim wins), then the index page if ``GET /`` is free."""
    from .builtin_routes import builtin_routes
    from .index_page import index_route

    routes = [*builtin_routes(list_db), *module_routes]
    if not any(route.path == INDEX_PATH and "GET" in route.methods for route in routes):
        routes.append(index_route())
    return routes


@dataclass(frozen=True)
class RouteRow:
    """One route as ``devshell routes`` prints it."""

    path: str
    methods: tuple[str, ...]
    auth: str
    type: str
    module: str  #: "devshell" for the built-in routes
    endpoint: str  #: ``python.module:function``

    @classmethod
    def of(cls, route: Route) -> "RouteRow":
        function = route.endpoint
        endpoint = f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"
        return cls(route.path, route.methods, route.auth, route.type, route.module or "devshell", endpoint)


def list_routes(site: "Site", db: str | None = None,
                on_error: Callable[["Module", "ModuleError"], None] | None = None) -> list[RouteRow]:
    """The routes *site*'s server serves, sorted by path; with *db*, only those served on that database.

    The modules are loaded as the server loads them (every module on the path, by
    name, a broken one reported to *on_error* and skipped), so clashes resolve the
    same way; with *db*, the routes of modules not installed there are left out.
    """
    from ...modules import load_contributions

    modules = site.modules
    found = load_contributions([modules[name] for name in sorted(modules)], on_error=on_error)
    _map, endpoints = build_map(app_routes(site.config["list_db"], found.routes))
    served = list(endpoints.values())
    if db is not None:
        from ...modules.listing import installed_versions

        installed = installed_versions(site, db)
        served = [route for route in served if route.module == BUILTIN or route.module in installed]
    rows = [RouteRow.of(route) for route in served]
    rows.append(RouteRow(STATIC_RULE, ("GET",), "public", "http", "devshell", "static files of the modules"))
    return sorted(rows, key=lambda row: (row.path, row.methods))
