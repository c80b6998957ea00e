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
from . import database_option, echo_table, load, load_site, names

if TYPE_CHECKING:
    from ..db.connection import ServerAddress
    from ..db.embedded import EmbeddedCluster


@click.group("db")
@click.pass_context
def db_group(ctx: click.Context) -> None:
    """Create, copy, dump and restore databases; run the embedded PostgreSQL server."""
    from ..interrupts import sigterm_as_interrupt

    ctx.with_resource(sigterm_as_interrupt())  # a killed restore, init or dump cleans up as on Ctrl-C


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

    databases = list_databases(_address(ctx))
    if not long_format:
        for info in databases:
            click.echo(info.name)
        return
    from ..db.clients import human_size

    echo_table(("name", "owner", "size"), [(info.name, info.owner, human_size(info.size)) for info in databases],
               right=(2,))


@db_group.command("psql", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@database_option
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED, metavar="[PSQL ARGS]...")
@click.pass_context
def psql_command(ctx: click.Context, database: str | None, psql_args: tuple[str, ...]) -> None:
    """Run the machine's psql on the database, on devshell's server (embedded or not).

    Everything after the options goes to psql: `devshell db psql -d DB -f dump.sql`,
    `devshell db psql -d DB -c "select 1"`. Without -d: the configured database,
    else the maintenance database `postgres`.
    """
    from ..db.clients import exec_psql

    site = load_site(ctx, db_name=database)
    exec_psql(site.address, site.db_name, psql_args, pg_bindir=site.config["pg_bindir"])


@db_group.command("url")
@database_option
@click.option("--env", "as_env", is_flag=True, help="Print `export PG...=...` lines instead, for eval.")
@click.pass_context
def url_command(ctx: click.Context, database: str | None, as_env: bool) -> None:
    """Print a libpq URI of the database (password included, if any), or PG* variables with --env.

    `psql "$(devshell db url -d DB)"`, or `eval "$(devshell db url -d DB --env)"` and
    then any libpq program (psql, pg_dump, pgcli) reaches the database by itself.
    """
    from ..db.clients import libpq_uri, shell_exports

    site = load_site(ctx, db_name=database)
    db = site.require_database()
    if as_env:
        for line in shell_exports(site.address, db):
            click.echo(line)
    else:
        click.echo(libpq_uri(site.address, db))


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


@db_group.command("rotate-secret")
@database_option
@click.option("--keep-hours", type=click.FloatRange(min=0, max=24 * 365), default=24 * 7, show_default=True,
              help="How long the old secrets stay accepted at most (a session's lifetime by default; 0 ends every "
                   "session).")
@click.pass_context
def rotate_secret_command(ctx: click.Context, database: str | None, keep_hours: float) -> None:
    """Make a new secret for the database's session cookies; the old one stays accepted for --keep-hours.

    Every server on the database signs new cookies with the new secret within a
    minute, and signs a session's cookie again when it is next used.
    """
    from ..db.signing_keys import rotate_secret

    site = load_site(ctx, db_name=database)
    database = site.require_database()
    if site.config["secret_key"]:
        warn(f"secret_key is set ({site.config.sources['secret_key']}): servers with it sign cookies with it, "
             "not with the database's secret")
    ended = rotate_secret(site.address, database, int(keep_hours * 3600))
    if ended is None:
        click.echo(f"made the session secret of {database} (it had none)")
    else:
        click.echo(f"rotated the session secret of {database}; the previous one is accepted until "
                   f"{ended:%Y-%m-%d %H:%M:%S %Z}".rstrip())


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
    """Say whether the embedded server runs (exit 0) or not (exit 1), where it lives, its socket, port and user."""
    cluster = _cluster(ctx)
    status = cluster.status()
    click.echo(status.describe())
    if not status.running:
        ctx.exit(1)
    address = cluster.address()
    click.echo(f"socket: {address.host}")
    click.echo(f"port: {address.port}")
    click.echo(f"user: {address.user}")


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
