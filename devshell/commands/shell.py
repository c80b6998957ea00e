"""``devshell shell``: an environment-bound REPL, or code, a script or stdin run in its namespace."""

from __future__ import annotations

import logging
import sys

import click

from ..repl import INTERFACES
from . import database_option, load


@click.command("shell", context_settings={"help_option_names": ["-h", "--help"],
                                           "allow_interspersed_args": False})
@database_option
@click.option("-i", "--interface", type=click.Choice(INTERFACES, case_sensitive=False),
              help="REPL to use (default: the first installed of ipython, ptpython, bpython, python).")
@click.option("-c", "code", metavar="CODE", help="Run CODE in the shell's namespace and exit.")
@click.option("--commit", is_flag=True, help="Commit at the end (a failing script rolls back and exits 1).")
@click.option("--debug", is_flag=True, help="Log every SQL statement with its duration.")
@click.argument("script", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def shell_command(ctx: click.Context, database: str | None, interface: str | None, code: str | None,
                  commit: bool, debug: bool, script: str | None, args: tuple[str, ...]) -> int:
    """Open a shell bound to a database: `env`, `cr`, `devshell` and one name per table.

    Without --commit everything is rolled back at exit, unless you call env.commit().
    Piped stdin runs as a script: `echo "print(env.db)" | devshell shell -d DB`.
    """
    from ..db.connection import resolve_server
    from ..env import connect
    from ..repl import Shell, choose_interface, history_folder

    config = load(ctx, db_name=database, shell_interface=interface)
    if code is None and script is None and not sys.stdin.isatty():
        script = "-"
    if code is None and script is None:  # interactive: validate the REPL before connecting
        interface = choose_interface(config["shell_interface"])
    if debug or ctx.find_root().obj.get("debug"):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("SQL %(message)s"))
        sql_logger = logging.getLogger("devshell.sql")
        sql_logger.addHandler(handler)
        sql_logger.setLevel(logging.DEBUG)
    address = resolve_server(config)
    env = connect(config["db_name"], config=config, address=address)
    try:
        shell = Shell(env, commit=commit, server=address.describe())
        if code is not None:
            return shell.run_code(code, "<string>", ["-c", *([script] if script else []), *args])
        if script == "-":
            return shell.run_code(sys.stdin.read(), "<stdin>", ["-", *args])
        if script is not None:
            return shell.run_script(script, list(args))
        assert interface is not None
        return shell.interact(interface, history_folder(config.data_dir))
    finally:
        env.close()
