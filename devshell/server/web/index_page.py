"""The page at ``/`` of a devshell server: its database, installed modules and their routes, as links.

``devshell start`` prints the root URL; before this page it answered 404. It is
served only when no module claims ``GET /`` (see :func:`.route_listing.app_routes`),
is public like ``/web/health``, and lists other databases only when ``list_db`` allows.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from werkzeug.wrappers import Response

from ...addon import Route
from .routing import BUILTIN

if TYPE_CHECKING:
    from .request import Request

STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:1.6em}.muted{color:#777}
table{border-collapse:collapse}td,th{padding:.2em .8em .2em 0;text-align:left;vertical-align:top}
code{font-size:.95em}.warning{background:#fff3cd;border:1px solid #e0c36c;padding:.5em .8em;margin:.5em 0}"""


def index_route() -> Route:
    return Route(BUILTIN, "/", index, ("GET",), "public", "http")


def _link(route: Route, query: str) -> str:
    """The path as a link when a browser can open it (GET, no URL variables), else as text."""
    path = escape(route.path)
    if "GET" in route.methods and "<" not in route.path:
        return f'<a href="{escape(route.path + query)}"><code>{path}</code></a>'
    return f"<code>{path}</code>"


def _routes_table(routes: list[Route], query: str) -> str:
    if not routes:
        return '<p class="muted">no routes</p>'
    rows = "".join(f"<tr><td>{_link(route, query)}</td><td>{escape(', '.join(route.methods))}</td>"
                   f"<td>{escape(route.auth)}</td><td>{escape(route.type)}</td></tr>"
                   for route in sorted(routes, key=lambda route: (route.path, route.methods)))
    return f"<table><tr><th>path</th><th>methods</th><th>auth</th><th>type</th></tr>{rows}</table>"


def _database_list(request: "Request") -> str:
    app = request.app
    if not app.config["list_db"]:
        return '<p>No database selected: add <code>?db=NAME</code> to the URL.</p>'
    names = app.databases.visible(request.filter_host)
    if not names:
        return "<p>No database on this server yet: <code>devshell db init -d NAME</code>.</p>"
    links = "".join(f'<li><a href="/?db={escape(quote(name, safe=""))}">{escape(name)}</a></li>' for name in names)
    return f"<p>No database selected; choose one:</p><ul>{links}</ul>"


def _modules_section(request: "Request", db: str, query: str) -> str:
    from ...modules.state import installed_modules

    app = request.app
    installed = installed_modules(request.cr)
    if not installed:
        return (f"<p>{escape(db)} is not a devshell database: <code>devshell db init -d {escape(db)}</code> "
                "installs devshell's tables and modules.</p>")
    parts = []
    for name, version in installed.items():
        module = app.modules.get(name)
        summary = ""
        if module is not None:
            try:
                summary = module.manifest.summary
            except Exception:  # noqa: BLE001 - a broken manifest shows as a module without summary
                summary = ""
        else:
            summary = "not on the addons path: not served"
        routes = [route for route in app.routes if route.module == name]
        parts.append(f"<h3>{escape(name)} <span class=\"muted\">{escape(version)}</span></h3>"
                     + (f"<p class=\"muted\">{escape(summary)}</p>" if summary else "")
                     + (_routes_table(routes, query) if routes or module is not None else ""))
    return "".join(parts)


def index(request: "Request") -> Response:
    """``GET /``: what this server serves, with links."""
    from ...version import __version__

    app = request.app
    db = request.db
    query = f"?db={quote(request.explicit_db, safe='')}" if request.explicit_db else ""
    warnings = [warning for warning in (app.problems.for_request(request)
                                        + ([app.problems.check(db)] if db else [])) if warning]
    body = [f"<h1>devshell</h1><p class=\"muted\">{escape(app.mode)} server, devshell {escape(__version__)}</p>"]
    body += [f'<div class="warning">{escape(warning)}</div>' for warning in dict.fromkeys(warnings)]
    if db is None:
        body.append(_database_list(request))
    else:
        body.append(f"<h2>Database <code>{escape(db)}</code></h2>")
        body.append(_modules_section(request, db, query))
    own = [route for route in app.routes if route.module == BUILTIN and route.path != "/"]
    body.append("<h2>devshell's routes</h2>" + _routes_table(own, query))
    page = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>devshell"
            f"{escape(' · ' + db) if db else ''}</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    return Response(page, content_type="text/html; charset=utf-8")
