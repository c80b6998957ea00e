"""``devshell db init``: create a database if needed, install modules, create the admin user."""

from __future__ import annotations

import click

from ..errors import UsageError
from . import database_option, load


def _names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@click.command("init", context_settings={"help_option_names": ["-h", "--help"]})
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

    config = load(ctx, addons_path=_names(addons_path) if addons_path is not None else None,
                  admin_password=admin_password, db_name=database)
    database = config["db_name"]
    if not database:
        raise UsageError("missing the database: devshell db init -d NAME [-i MOD1,MOD2]")
    result = init_database(config, database, _names(install), update=update)
    for warning in result.warnings:
        click.echo(f"devshell: warning: {warning}", err=True)
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
