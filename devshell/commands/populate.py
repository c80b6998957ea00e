"""``devshell populate``: fill a database with realistic fake rows."""

from __future__ import annotations

import click

from . import database_option, load_site


@click.command("populate")
@database_option
@click.option("--size", default="small", show_default=True, metavar="SIZE",
              help="small (10 rows per table), medium (100), large (1000) or a number of rows.")
@click.option("--tables", metavar="T1,T2", help="Only these tables (and the parents they need).")
@click.option("--seed", type=int, help="Seed of the random data: the same seed makes the same rows.")
@click.option("--locale", metavar="LOCALE", help="Faker locale of names, addresses… (default en_US).")
@click.option("--dry-run", is_flag=True, help="Show the plan (order, counts, generators) and write nothing.")
@click.pass_context
def populate_command(ctx: click.Context, database: str | None, size: str, tables: str | None, seed: int | None,
                     locale: str | None, dry_run: bool) -> None:
    """Fill every table with fake rows that respect keys, uniques, CHECKs and partitions.

    One transaction: a failed or interrupted run leaves the database as it was.
    """
    from ..populate import populate
    from ..populate.planner import parse_size

    parse_size(size)
    site = load_site(ctx, db_name=database)
    populate(site.require_database(), size, seed=seed, tables=tables, locale=locale, dry_run=dry_run, site=site)
