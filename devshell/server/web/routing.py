"""Routes: werkzeug's rule map over the built-in routes and the modules' ``@addon.route``s.

A module's route is served only on databases where the module is installed;
the built-in routes (``module`` ``""``) are always there. ``auth`` is enforced
before the endpoint runs: ``public`` for anyone, ``user`` for a logged-in
session, ``admin`` for an administrator; before that, a state-changing request
sent by another site's page is refused (``cross_site``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterable

from werkzeug.exceptions import Forbidden, NotFound, Unauthorized
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from ...addon import Route
from .cross_site import refuse_cross_site
from .responses import json_response

if TYPE_CHECKING:
    from .request import Request

logger = logging.getLogger(__name__)

BUILTIN = ""  #: the module name of devshell's own routes
STATIC_ENDPOINT = "static"


def build_map(routes: Iterable[Route]) -> tuple[Map, dict[str, Route]]:
    """The rule map and {endpoint name: route}; a path+method claimed twice keeps the first claim."""
    rules: list[Rule] = []
    endpoints: dict[str, Route] = {}
    claimed: dict[tuple[str, str], Route] = {}
    for index, route in enumerate(routes):
        clash = [method for method in route.methods if (route.path, method) in claimed]
        if clash:
            first = claimed[(route.path, clash[0])]
            logger.warning("route %s %s of module %r ignored: module %r already serves it",
                            clash[0], route.path, route.module, first.module or "devshell")
            continue
        for method in route.methods:
            claimed[(route.path, method)] = route
        endpoint = f"route{index}"
        endpoints[endpoint] = route
        rules.append(Rule(route.path, endpoint=endpoint, methods=list(route.methods)))
    rules.append(Rule("/<module>/static/<path:filename>", endpoint=STATIC_ENDPOINT, methods=["GET"]))
    return Map(rules, strict_slashes=False, merge_slashes=False), endpoints


def static_table(url_map: Map) -> dict[str, dict[str, str]]:
    """{path: {method: endpoint}} of the rules without variables: most requests skip the matcher.

    werkzeug tries static rules before variable ones, so an exact hit here is what
    ``match`` would answer; everything else (variables, 405, redirects) goes to ``match``.
    """
    table: dict[str, dict[str, str]] = {}
    for rule in url_map.iter_rules():
        if not rule.arguments and "<" not in rule.rule:
            methods = table.setdefault(rule.rule, {})
            for method in rule.methods or ():
                methods.setdefault(method, str(rule.endpoint))
    return table


def check_access(request: "Request", route: Route) -> None:
    """Raise unless the route's module is served on the request's database and its ``auth`` allows."""
    if route.module != BUILTIN:
        db = request.db
        if db is None or route.module not in request.app.databases.installed_modules(db):
            raise NotFound()
    if route.auth == "public":
        return
    if request.uid is None:
        raise Unauthorized("log in first: POST /web/login {\"login\", \"password\", \"db\"}")
    if route.auth == "admin" and not request.is_admin:
        raise Forbidden("this route is for administrators")


def call_route(request: "Request", route: Route, values: dict[str, Any]) -> Response:
    """Run the endpoint and turn what it returns into a response."""
    refuse_cross_site(request)
    check_access(request, route)
    if route.type == "json":
        request.payload  # noqa: B018 - a malformed or non-JSON body fails before the endpoint runs
    result = route.endpoint(request, **values)
    return to_response(result, route.type)


def to_response(result: Any, kind: str) -> Response:
    """Responses pass through; JSON routes (and dicts/lists anywhere) become JSON; text becomes HTML."""
    if isinstance(result, Response):
        return result
    if kind == "json" or isinstance(result, (dict, list)):
        return json_response(result)
    if result is None:
        return Response(status=204)
    if isinstance(result, bytes):
        return Response(result, content_type="application/octet-stream")
    return Response(str(result), content_type="text/html; charset=utf-8")
