"""``devshell populate``: fill a database with realistic fake rows."""

from __future__ import annotations

import click

from . import database_option, load


@click.command("populate", context_settings={"help_option_names": ["-h", "--help"]})
@database_option
@click.option("--size", default="small", show_default=True, metavar="SIZE",
              help="small (10 rows per table), medium (100), large (1000) or a number of rows.")
@click.option("--tables", metavar="T1,T2", help="Only these tables (and the parents they need).")
@click.option("--seed", type=int, help="Seed of the random data: the same seed makes the same rows.")
@click.option("--locale", metavar="LOCALE", help="Faker locale of names, addresses… (default en_US).")
@click.option("--dry-run", is_flag=True,
              help="Show the plan, try the whole load and roll it back: fails where the run would, writes nothing.")
@click.option("--skip-failing", is_flag=True,
              help="Leave the tables that cannot be filled (and those needing their rows) empty; load the rest.")
@click.option("--triggers", is_flag=True,
              help="Keep user triggers firing during the load (by default they are disabled for it).")
@click.pass_context
def populate_command(ctx: click.Context, database: str | None, size: str, tables: str | None, seed: int | None,
                     locale: str | None, dry_run: bool, skip_failing: bool, triggers: bool) -> None:
    """Fill every table with fake rows that respect keys, uniques, CHECKs and partitions.

    One transaction: a failed or interrupted run leaves the database as it was.
    When tables cannot be filled, the error names each of them and why.
    """
    from ..errors import UsageError
    from ..populate import populate
    from ..populate.planner import parse_size

    parse_size(size)
    config = load(ctx, db_name=database)
    if not config["db_name"]:
        raise UsageError("missing the database: give -d NAME")
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    populate(config["db_name"], size, seed=seed, tables=tables, locale=locale, dry_run=dry_run, config=config,
             skip_failing=skip_failing, triggers=triggers, debug=debug)
