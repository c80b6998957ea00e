"""Click commands: they parse arguments, call the work functions and print the results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import click

from ..config import Config, load_config, unknown_key_messages
from ..console import warn

if TYPE_CHECKING:
    from ..site import Site


def load(ctx: click.Context, **overrides: Any) -> Config:
    """The configuration for this run (command-line flags on top); unknown keys are reported once."""
    root = ctx.find_root()
    root.ensure_object(dict)
    config = load_config(overrides=overrides)
    if not root.obj.get("unknown_reported"):
        for message in unknown_key_messages(config):
            warn(message)
        root.obj["unknown_reported"] = True
    return config


def complete_databases(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of ``-d``: the databases on the configured server (none when it is not running).

    Completion never starts the embedded cluster, and never fails: whatever goes
    wrong (no server, no cluster yet, a refused login) just offers nothing.
    """
    try:
        from ..db.clients import database_names
        from ..db.connection import resolve_server

        names = database_names(resolve_server(load_config(), start=False))
    except Exception:  # noqa: BLE001 - a completion must not print a traceback into the user's prompt
        return []
    return [name for name in names if name.startswith(incomplete)]


database_option = click.option(
    "-d", "--database", "database", metavar="NAME", help="Database to work on.", shell_complete=complete_databases
)


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Sequence[int] = ()) -> None:
    """Print rows under a header, in columns two spaces apart (the columns in *right* aligned right)."""
    table = [tuple(headers), *(tuple(str(cell) for cell in row) for row in rows)]
    widths = [max(len(row[column]) for row in table) for column in range(len(headers))]
    for row in table:
        cells = [cell.rjust(width) if column in right else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths))]
        click.echo("  ".join(cells).rstrip())


def load_site(ctx: click.Context, **overrides: Any) -> "Site":
    """A :class:`~devshell.site.Site` for this run's configuration: the server and modules resolved on first use."""
    from ..site import Site

    return Site(load(ctx, **overrides))


def debug_enabled(ctx: click.Context) -> bool:
    """True when the root ``--debug`` option was given (it is stored on the root context)."""
    return bool((ctx.find_root().obj or {}).get("debug"))


def names(value: str | None) -> list[str] | None:
    """A comma-separated flag value as a list (None when the flag was not given)."""
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]
