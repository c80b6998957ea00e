"""``devshell populate``: fill a database with realistic fake rows."""

from __future__ import annotations

import click

from . import database_option, debug_enabled, load_site


@click.command("populate")
@database_option
@click.option("--size", metavar="SIZE",
              help="small (10 rows per table, the default), medium (100), large (1000) or a number of rows.")
@click.option("--tables", metavar="T1,T2", help="Only these tables (and the parents they need).")
@click.option("--seed", type=int, help="Seed of the random data: the same seed makes the same rows.")
@click.option("--locale", metavar="LOCALE", help="Faker locale of names, addresses… (default en_US).")
@click.option("--dry-run", is_flag=True,
              help="Show the plan, try the whole load and roll it back: fails where the run would, writes nothing.")
@click.option("--skip-failing", is_flag=True,
              help="Leave the tables that cannot be filled (and those needing their rows) empty; load the rest.")
@click.option("--triggers", is_flag=True,
              help="Keep user triggers firing during the load (by default they are disabled for it).")
@click.option("--like", metavar="SOURCE",
              help="Imitate SOURCE (a database, or a connection string) from its statistics: row counts, NULLs, "
                   "value ranges and frequencies. No row of SOURCE is read; run ANALYZE there first.")
@click.option("--like-values", type=click.Choice(["categorical", "all", "none"]), default="categorical",
              show_default=True, help="With --like: which of SOURCE's most common values may be copied "
                                      "(categorical: those of non-personal columns with few values).")
@click.option("--scale", type=float, metavar="N",
              help="With --like: this share of SOURCE's rows (0.01 = 1%). Alone: add N times the rows each "
                   "table already has (2 triples them), the new rows referencing the existing ones.")
@click.option("--spec", type=click.Path(dir_okay=False), metavar="FILE",
              help="Declared counts and distributions (TOML or JSON): per table a count or 'per' another "
                   "table, per column normal(mean, std), uniform(a, b), weighted choices, null, unique, faker.")
@click.option("--jobs", type=int, metavar="N",
              help="Processes making the rows of big tables (default: one per CPU). Same seed, same rows, "
                   "whatever N.")
@click.pass_context
def populate_command(ctx: click.Context, database: str | None, size: str | None, tables: str | None,
                     seed: int | None, locale: str | None, dry_run: bool, skip_failing: bool, triggers: bool,
                     like: str | None, like_values: str, scale: float | None, spec: str | None,
                     jobs: int | None) -> None:
    """Fill every table with fake rows that respect keys, uniques, CHECKs and partitions.

    One transaction: a failed or interrupted run leaves the database as it was.
    When tables cannot be filled, the error names each of them and why.
    """
    from ..populate import populate
    from ..populate.planner import parse_size

    if size is not None:
        parse_size(size)
    site = load_site(ctx, db_name=database)
    populate(site.require_database(), size, seed=seed, tables=tables, locale=locale, dry_run=dry_run, site=site,
             skip_failing=skip_failing, triggers=triggers, debug=debug_enabled(ctx), like=like,
             like_values=like_values, scale=scale, spec=spec, jobs=jobs)
