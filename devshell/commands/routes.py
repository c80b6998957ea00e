"""``devshell routes``: every HTTP route with its methods, auth and module (like ``flask routes``)."""

from __future__ import annotations

import click

from ..console import warn
from . import database_option, echo_table, load_site, names


@click.command("routes")
@database_option
@click.option("--addons-path", metavar="DIR1,DIR2", help="Folders searched for modules (replaces addons_path).")
@click.pass_context
def routes_command(ctx: click.Context, database: str | None, addons_path: str | None) -> None:
    """List the routes a server of this project serves: path, methods, auth, type, module, endpoint.

    The modules are loaded as the server loads them. With -d, only the routes
    served on that database (devshell's own, and those of the modules installed there).
    """
    from ..server.web.route_listing import list_routes

    site = load_site(ctx, addons_path=names(addons_path))
    rows = list_routes(site, database, on_error=lambda module, exc: warn(f"{exc.message} (its routes are left out)"))
    echo_table(("path", "methods", "auth", "type", "module", "endpoint"),
               [(row.path, ",".join(row.methods), row.auth, row.type, row.module, row.endpoint) for row in rows])
