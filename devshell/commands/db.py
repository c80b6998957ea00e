"""``devshell db``: databases and the embedded PostgreSQL server."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterator

import click

from ..errors import UsageError
from . import database_option, load

if TYPE_CHECKING:
    from ..config import Config
    from ..db.connection import ServerAddress

CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.group("db", context_settings=CONTEXT)
def db_group() -> None:
    """Create, copy, dump and restore databases; run the embedded PostgreSQL server."""


def _one_name(option: str | None, positional: str | None, what: str = "NAME") -> str:
    if option and positional and option != positional:
        raise UsageError(f"give the database once: -d {option} and {what} {positional} disagree")
    name = option or positional
    if not name:
        raise UsageError(f"missing the database: give -d NAME (or {what})")
    return name


def _address(ctx: click.Context, config: "Config | None" = None) -> "ServerAddress":
    from ..db.connection import resolve_server

    return resolve_server(config or load(ctx))


@db_group.command("list", context_settings=CONTEXT)
@click.option("-l", "--long", "long_format", is_flag=True, help="Also show owner and size.")
@click.pass_context
def list_command(ctx: click.Context, long_format: bool) -> None:
    """List the databases on the server."""
    from ..db.admin import list_databases

    for info in list_databases(_address(ctx)):
        if long_format:
            click.echo(f"{info.name}\t{info.owner}\t{info.size}")
        else:
            click.echo(info.name)


@db_group.command("create", context_settings=CONTEXT)
@database_option
@click.argument("name", required=False)
@click.option("--template", metavar="DB", help="Create as a copy of this database.")
@click.pass_context
def create_command(ctx: click.Context, database: str | None, name: str | None, template: str | None) -> None:
    """Create a database (an existing one is an error)."""
    from ..db.admin import create_database

    name = _one_name(database, name)
    create_database(_address(ctx), name, template=template)
    click.echo(f"created database {name}")


@db_group.command("drop", context_settings=CONTEXT)
@database_option
@click.argument("name", required=False)
@click.option("--if-exists", is_flag=True, help="Succeed when the database does not exist.")
@click.pass_context
def drop_command(ctx: click.Context, database: str | None, name: str | None, if_exists: bool) -> None:
    """Drop a database, closing the sessions still on it."""
    from ..db.admin import drop_database

    name = _one_name(database, name)
    if drop_database(_address(ctx), name, missing_ok=if_exists):
        click.echo(f"dropped database {name}")
    else:
        click.echo(f"database {name} does not exist")


@db_group.command("copy", context_settings=CONTEXT)
@database_option
@click.argument("names", nargs=-1, metavar="[SOURCE] TARGET")
@click.pass_context
def copy_command(ctx: click.Context, database: str | None, names: tuple[str, ...]) -> None:
    """Copy a database into a new one: `db copy SRC DEST` or `db copy -d SRC DEST`."""
    from ..db.admin import copy_database

    if database and len(names) == 1:
        source, target = database, names[0]
    elif not database and len(names) == 2:
        source, target = names
    else:
        raise UsageError("give a source and a target: devshell db copy SOURCE TARGET")
    copy_database(_address(ctx), source, target)
    click.echo(f"copied database {source} to {target}")


@contextlib.contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr: bytes, rate, and an ETA when the total is known.

    Shown only on a terminal and cleared at the end, so what stays is the one summary
    line, or the one error line.
    """
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda size: None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()]
    if total:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda size: progress.advance(task, size)


@db_group.command("dump", context_settings=CONTEXT)
@database_option
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_context
def dump_command(ctx: click.Context, database: str | None, file: str | None) -> None:
    """Dump a database (custom format) to FILE (default DB.dump, `-` for stdout)."""
    from ..db.admin import dump_database, dump_to_file

    if not database:
        raise UsageError("missing the database: devshell db dump -d NAME [FILE]")
    config = load(ctx)
    address, bindir = _address(ctx, config), config["pg_bindir"]
    if file == "-":
        dump_database(address, database, sys.stdout.buffer, bindir=bindir)
        return
    path = Path(file or f"{database}.dump")
    with _progress(f"dump {database}", None) as advance:
        size = dump_to_file(address, database, path, advance, bindir=bindir)
    click.echo(f"dumped {database} to {path} ({size} bytes)", err=True)


@db_group.command("restore", context_settings=CONTEXT)
@database_option
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_context
def restore_command(ctx: click.Context, database: str | None, file: str) -> None:
    """Restore FILE (custom format, `-` for stdin) into a new database, all or nothing."""
    from ..db.admin import restore_database

    if not database:
        raise UsageError("missing the database: devshell db restore -d NAME FILE")
    config = load(ctx)
    address, bindir = _address(ctx, config), config["pg_bindir"]
    if file == "-":
        restore_database(address, database, sys.stdin.buffer, bindir=bindir)
    else:
        path = Path(file)
        try:
            source: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        with source, _progress(f"restore {database}", path.stat().st_size) as advance:
            restore_database(address, database, source, advance, bindir=bindir)
    click.echo(f"restored {database}", err=True)


@db_group.group("server", context_settings=CONTEXT)
def server_group() -> None:
    """Start, stop or inspect the embedded PostgreSQL server."""


def _cluster(ctx: click.Context):  # type: ignore[no-untyped-def]
    from ..db.embedded import EmbeddedCluster

    config = load(ctx)
    if config.is_set("db_host") or config.is_set("db_port"):
        raise UsageError(
            f"an external server is configured ({config.sources.get('db_host') or config.sources.get('db_port')}); "
            "the embedded server is only used when no db_host / db_port / PGHOST / PGPORT is set"
        )
    return EmbeddedCluster.from_config(config)


@server_group.command("start", context_settings=CONTEXT)
@click.pass_context
def server_start(ctx: click.Context) -> None:
    """Start the embedded server (initialising it the first time)."""
    click.echo(_cluster(ctx).start().describe())


@server_group.command("stop", context_settings=CONTEXT)
@click.pass_context
def server_stop(ctx: click.Context) -> None:
    """Stop the embedded server."""
    cluster = _cluster(ctx)
    click.echo("embedded PostgreSQL: stopped" if cluster.stop() else "embedded PostgreSQL: was not running")


@server_group.command("status", context_settings=CONTEXT)
@click.pass_context
def server_status(ctx: click.Context) -> None:
    """Say whether the embedded server runs (exit 0) or not (exit 1), and where it lives."""
    status = _cluster(ctx).status()
    click.echo(status.describe())
    if not status.running:
        ctx.exit(1)


from .db_init import init_command  # noqa: E402
db_group.add_command(init_command)
