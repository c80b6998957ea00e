"""``devshell start``: quick start of the project in a folder (database, modules, threaded server)."""

from __future__ import annotations

import click

from ..settings import SETTINGS
from . import database_option, names


@click.command("start")
@click.option("--path", "path", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The project, module or folder of modules to start.")
@database_option
@click.option("--demo", is_flag=True, help="First create the demo project (a library app) in the folder, "
                                          "with fake data.")
@click.option("--http-port", type=int, metavar="PORT", help="HTTP port (default 8069; 0 picks a free one).")
@click.option("--http-interface", metavar="ADDRESS", help="Address to listen on (default 127.0.0.1).")
@click.option("--dev", "dev", metavar="FEATURES",
              help=f"Developer features ({', '.join(SETTINGS['dev'].choices)}): reload restarts on code changes.")
def start_command(path: str, database: str | None, demo: bool, http_port: int | None,
                  http_interface: str | None, dev: str | None) -> int:
    """Create the database if missing, install the project's modules and serve them.

    Prints the URL (the index page at /, or the demo's page) and the command that
    opens a shell on the database; stops on Ctrl-C. `devshell start --demo` in an
    empty folder makes and serves a demo; `--dev reload` restarts on code changes.
    """
    from ..start import start

    # no load(ctx) here: the configuration is the one of the project's folder, read (and checked) by start
    overrides = {"http_port": http_port, "http_interface": http_interface, "dev": names(dev)}
    return start(path, database, demo=demo, overrides=overrides, echo=click.echo)
