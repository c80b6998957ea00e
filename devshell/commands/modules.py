"""``devshell modules``: the modules on the addons path, and with ``-d`` what a database has installed."""

from __future__ import annotations

import click

from ..console import warn
from . import database_option, echo_table, load_site, names


@click.command("modules")
@database_option
@click.option("--addons-path", metavar="DIR1,DIR2", help="Folders searched for modules (replaces addons_path).")
@click.pass_context
def modules_command(ctx: click.Context, database: str | None, addons_path: str | None) -> None:
    """List the modules on the addons path: name, version, folder.

    With -d, also which are installed in that database and at which version
    (an update pending, or a module installed there but missing from the path).
    """
    from ..modules import list_modules

    site = load_site(ctx, addons_path=names(addons_path))
    rows = list_modules(site, database)
    if database:
        echo_table(("module", "version", "state", "path"),
                   [(row.name, row.version or "-", row.state, str(row.path or "-")) for row in rows])
    else:
        echo_table(("module", "version", "path"),
                   [(row.name, row.version or "-", str(row.path or "-")) for row in rows])
    for row in rows:
        if row.problem:
            warn(row.problem)
