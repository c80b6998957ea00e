"""``devshell kernel install / list / remove``: Jupyter kernels bound to a database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..console import warn
from ..errors import DevshellError
from . import database_option, load_site

if TYPE_CHECKING:
    from ..site import Site


@click.group("kernel")
def kernel_group() -> None:
    """Jupyter kernels whose namespace is bound to a database (env, cr, server(), models, %%sql)."""


@kernel_group.command("install")
@database_option
@click.option("--name", metavar="NAME", help="Kernel name (default: devshell-DB).")
@click.option("--display-name", metavar="TEXT", help="Name shown by Jupyter (default: devshell (DB)).")
@click.option("--user", is_flag=True, help="Install for the current user (the default).")
@click.option("--sys-prefix", is_flag=True, help="Install into this Python's prefix (a virtualenv).")
@click.option("--prefix", type=click.Path(file_okay=False), help="Install under PREFIX/share/jupyter/kernels.")
@click.pass_context
def install_command(ctx: click.Context, database: str | None, name: str | None, display_name: str | None,
                    user: bool, sys_prefix: bool, prefix: str | None) -> None:
    """Write a kernelspec that starts `python -m devshell.kernel` on the database (config baked in)."""
    from ..kernel.spec import install_kernel

    site = load_site(ctx, db_name=database)
    db = site.require_database()
    info = install_kernel(db, name=name, display_name=display_name, user=user, sys_prefix=sys_prefix,
                          prefix=prefix, config=site.config)
    click.echo(f"installed kernel {info.name!r} ({info.display_name}) in {info.path}")
    if info.secrets_left_out:
        click.echo(f"note: {', '.join(info.secrets_left_out)} not written to the kernelspec; the kernel reads "
                   "it from Jupyter's environment (PGPASSWORD / DEVSHELL_DB_PASSWORD) or ~/.pgpass", err=True)
    _warn_if_missing(site, db)


def _warn_if_missing(site: "Site", db: str) -> None:
    """A kernel for a database that does not exist yet is allowed, but say so now."""
    from ..db.admin import database_exists

    try:
        exists = database_exists(site.address, db)
    except DevshellError as exc:
        warn(f"could not check the database: {exc.message}")
        return
    if not exists:
        warn(f"database {db!r} does not exist yet (devshell db create {db}); the kernel will say so until it does")


@kernel_group.command("list")
@click.option("--prefix", type=click.Path(file_okay=False), help="Also look under PREFIX/share/jupyter/kernels.")
def list_command(prefix: str | None) -> None:
    """Show the installed devshell kernels: name, database, folder."""
    from ..kernel.spec import list_kernels

    kernels = list_kernels(prefix)
    if not kernels:
        click.echo("no devshell kernels (install one: devshell kernel install -d DB)")
        return
    width = max(len(info.name) for info in kernels)
    db_width = max(len(info.db) for info in kernels)
    for info in kernels:
        click.echo(f"{info.name.ljust(width)}  {info.db.ljust(db_width)}  {info.path}")


@kernel_group.command("remove")
@click.argument("name")
@click.option("--prefix", type=click.Path(file_okay=False), help="Also look under PREFIX/share/jupyter/kernels.")
def remove_command(name: str, prefix: str | None) -> None:
    """Delete the devshell kernel NAME."""
    from ..kernel.spec import remove_kernel

    path = remove_kernel(name, prefix)
    click.echo(f"removed kernel {name!r} ({path})")
