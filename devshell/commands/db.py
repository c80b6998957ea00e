"""``devshell db``: databases and the embedded PostgreSQL server."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterator

import click

from ..console import warn
from ..errors import UsageError
from ..errors import require_database
from . import database_option, load, load_site, names

if TYPE_CHECKING:
    from ..db.connection import ServerAddress
    from ..db.embedded import EmbeddedCluster


@click.group("db")
def db_group() -> None:
    """Create, copy, dump and restore databases; run the embedded PostgreSQL server."""


def _one_name(option: str | None, positional: str | None) -> str:
    if option and positional and option != positional:
        raise UsageError(f"give the database once: -d {option} and NAME {positional} disagree")
    return require_database(option or positional)


def _address(ctx: click.Context) -> "ServerAddress":
    return load_site(ctx).address


@db_group.command("list")
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


@db_group.command("create")
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


@db_group.command("drop")
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


@db_group.command("copy")
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


@db_group.command("dump")
@database_option
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_context
def dump_command(ctx: click.Context, database: str | None, file: str | None) -> None:
    """Dump a database (custom format) to FILE (default DB.dump, `-` for stdout)."""
    from ..db.admin import dump_database, dump_to_file

    database = require_database(database)
    site = load_site(ctx)
    address, bindir = site.address, site.config["pg_bindir"]
    if file == "-":
        dump_database(address, database, sys.stdout.buffer, bindir=bindir)
        return
    path = Path(file or f"{database}.dump")
    with _progress(f"dump {database}", None) as advance:
        size = dump_to_file(address, database, path, advance, bindir=bindir)
    click.echo(f"dumped {database} to {path} ({size} bytes)", err=True)


@db_group.command("restore")
@database_option
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_context
def restore_command(ctx: click.Context, database: str | None, file: str) -> None:
    """Restore FILE (custom format, `-` for stdin) into a new database, all or nothing."""
    from ..db.admin import restore_database

    database = require_database(database)
    site = load_site(ctx)
    address, bindir = site.address, site.config["pg_bindir"]
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


@db_group.group("server")
def server_group() -> None:
    """Start, stop or inspect the embedded PostgreSQL server."""


def _cluster(ctx: click.Context) -> "EmbeddedCluster":
    from ..db.embedded import EmbeddedCluster

    config = load(ctx)
    if config.is_set("db_host") or config.is_set("db_port"):
        raise UsageError(
            f"an external server is configured ({config.sources.get('db_host') or config.sources.get('db_port')}); "
            "the embedded server is only used when no db_host / db_port / PGHOST / PGPORT is set"
        )
    return EmbeddedCluster.from_config(config)


@server_group.command("start")
@click.pass_context
def server_start(ctx: click.Context) -> None:
    """Start the embedded server (initialising it the first time)."""
    click.echo(_cluster(ctx).start().describe())


@server_group.command("stop")
@click.pass_context
def server_stop(ctx: click.Context) -> None:
    """Stop the embedded server."""
    cluster = _cluster(ctx)
    click.echo("embedded PostgreSQL: stopped" if cluster.stop() else "embedded PostgreSQL: was not running")


@server_group.command("status")
@click.pass_context
def server_status(ctx: click.Context) -> None:
    """Say whether the embedded server runs (exit 0) or not (exit 1), and where it lives."""
    status = _cluster(ctx).status()
    click.echo(status.describe())
    if not status.running:
        ctx.exit(1)


@db_group.command("init")
@database_option
@click.option("-i", "--install", "install", metavar="MOD1,MOD2", help="Modules to install (base is always).")
@click.option("-u", "--update", is_flag=True, help="Run the data files of the -i modules even at the same version.")
@click.option("--addons-path", metavar="DIR1,DIR2", help="Folders searched for modules (replaces addons_path).")
@click.option("--admin-password", metavar="PW",
              help="Password of the admin user if it is created (default: $DEVSHELL_ADMIN_PASSWORD, else generated).")
@click.pass_context
def init_command(ctx: click.Context, database: str | None, install: str | None, update: bool,
                 addons_path: str | None, admin_password: str | None) -> None:
    """Create the database if needed, install base and the -i modules (all or nothing), create `admin`."""
    from ..modules import init_database

    site = load_site(ctx, addons_path=names(addons_path), admin_password=admin_password, db_name=database)
    database = site.require_database()
    result = init_database(site, database, names(install) or [], update=update)
    for warning in result.warnings:
        warn(warning)
    if result.created:
        click.echo(f"created database {database}")
    for step in result.steps:
        if step.action == "updated":
            click.echo(f"{step.action} {step.name} {step.previous} -> {step.version}")
        else:
            click.echo(f"{step.action} {step.name} {step.version}")
    if result.admin_created:
        click.echo("created user admin" + ("" if result.admin_password else " (password as given)"))
    if result.admin_password:
        click.echo(f"admin password: {result.admin_password}")
