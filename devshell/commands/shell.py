"""``devshell shell``: an environment-bound REPL, or code, a script or stdin run in its namespace."""

from __future__ import annotations

import click

from ..settings import SETTINGS
from . import database_option, debug_enabled, load_site


@click.command("shell", context_settings={"allow_interspersed_args": False})
@database_option
@click.option("-i", "--interface", type=click.Choice(SETTINGS["shell_interface"].choices, case_sensitive=False),
              help="REPL to use (default: the first installed of ipython, ptpython, bpython, python).")
@click.option("-c", "code", metavar="CODE", help="Run CODE in the shell's namespace and exit.")
@click.option("--commit", is_flag=True, help="Commit at the end (a failing script rolls back and exits 1).")
@click.option("--log-sql", is_flag=True, default=None,
              help="Echo each SQL statement with its parameters and duration (at run time: env.log_sql(False)).")
@click.option("--shell-file", "shell_files", multiple=True, metavar="FILE", type=click.Path(dir_okay=False),
              help="Run FILE in the namespace before the prompt (or the code); repeatable. A REPL runs "
                   "$PYTHONSTARTUP first.")
@click.argument("script", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def shell_command(ctx: click.Context, database: str | None, interface: str | None, code: str | None,
                  commit: bool, log_sql: bool | None, shell_files: tuple[str, ...], script: str | None,
                  args: tuple[str, ...]) -> int:
    """Open a shell bound to a database: `env`, `cr`, `devshell` and one name per table.

    Without --commit everything is rolled back at exit, unless you call env.commit().
    Piped stdin runs as a script: `echo "print(env.db)" | devshell shell -d DB`.
    """
    from ..shell import run_shell

    site = load_site(ctx, db_name=database, shell_interface=interface, log_sql=log_sql)
    return run_shell(site, code=code, script=script, args=args, commit=commit,
                     log_sql=debug_enabled(ctx), shell_files=shell_files)
