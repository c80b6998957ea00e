"""``populate(db, size=…)``: reflect, plan, load in one transaction, record, analyze, report."""

from __future__ import annotations

import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import DatabaseError, UsageError

if TYPE_CHECKING:
    from ..config import Config
    from ..db.catalog import Catalog
    from ..site import Site
    from .planner import Plan
    from .progress import Reporter

DEFAULT_LOCALE = "en_US"
SWITCH_INTERVAL = 0.0001  # seconds; Python's default is 0.005
COUNT_CAP = 10_000_000  # existing rows are counted up to this (enough for every decision made on them)


@dataclass
class PopulateResult:
    """What a run did (or, with ``dry_run``, would do): rows and seconds per table, the seed to reuse."""

    plan: Plan
    tables: dict[str, tuple[int, float]] = field(default_factory=dict)
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def seed(self) -> int:
        return self.plan.seed

    @property
    def rows(self) -> dict[str, int]:
        return {table: rows for table, (rows, _) in self.tables.items()}

    @property
    def total(self) -> int:
        return sum(rows for rows, _ in self.tables.values())


def _table_names(tables: str | Iterable[str] | None) -> list[str] | None:
    if tables is None:
        return None
    items = tables.split(",") if isinstance(tables, str) else list(tables)
    names = [item.strip() for item in items if item and item.strip()]
    if not names:
        raise UsageError("--tables is empty: give table names separated by commas")
    return names


def _check_locale(locale: str) -> str:
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        import difflib

        close = difflib.get_close_matches(locale, AVAILABLE_LOCALES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else " (e.g. en_US, fr_FR, de_DE, ja_JP)"
        raise UsageError(f"unknown locale {locale!r}{hint}")
    return locale


def populate(db: str, size: str | int = "small", *, seed: int | None = None,
             tables: str | Iterable[str] | None = None, locale: str | None = None, dry_run: bool = False,
             config: "Config | None" = None, quiet: bool = False, site: "Site | None" = None) -> PopulateResult:
    """Fill *db* with fake rows: *size* small (10 per table), medium (100), large (1000) or a number.

    *tables* limits the run (the parents their NOT NULL foreign keys need are
    added). The same *seed* and Faker version make the same rows; without one a
    seed is drawn, shown and recorded in ``devshell_populate``. All or nothing:
    one transaction. *dry_run* shows the plan and writes nothing.
    """
    from ..config import load_config
    from ..db.catalog import UnknownTableError, reflect
    from ..db.connection import blocking_io, connect, resolve_server
    from .factories import module_contributions
    from .planner import parse_size, plan_population
    from .progress import choose_reporter

    parse_size(size)  # bad input fails before anything starts
    names = _table_names(tables)
    locale = _check_locale(locale or DEFAULT_LOCALE)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    config = site.config if site is not None else (config or load_config())
    address = site.address if site is not None else resolve_server(config)  # a Site resolved it already
    reporter = choose_reporter(quiet)
    conn = connect(address, db)
    try:
        with blocking_io(), conn.cursor() as cr:
            catalog = reflect(cr)
            counts, factories = module_contributions(config, cr, catalog, seed=seed, locale=locale)
            try:
                plan = plan_population(catalog, _counter(cr, catalog), _maximum(cr, catalog), size=size, seed=seed,
                                       tables=names, locale=locale, overrides=counts, factories=factories)
            except UnknownTableError as exc:
                raise UsageError(exc.message) from None
            if dry_run:
                reporter.show_plan(plan)
                conn.rollback()
                return PopulateResult(plan, dry_run=True)
            started = time.perf_counter()
            done = _load(conn, cr, plan, catalog, reporter, lambda: connect(address, db))
        _analyze(conn, plan)
        result = PopulateResult(plan, done, time.perf_counter() - started)
        reporter.close()
        reporter.summary([(table, rows, spent) for table, (rows, spent) in done.items()], result.seconds, seed)
        return result
    finally:
        reporter.close()
        conn.close()


def _counter(cr: Any, catalog: "Catalog") -> Callable[[str], int]:
    """``existing(table)``: rows already there (capped), every table counted in one query."""
    from psycopg2 import sql

    counts: dict[str, int] = {}

    def existing(key: str) -> int:
        if not counts and catalog.tables:
            parts = [sql.SQL("SELECT {}, count(*) FROM (SELECT 1 FROM {}.{} LIMIT {}) s").format(
                sql.Literal(key), sql.Identifier(table.schema), sql.Identifier(table.name), sql.Literal(COUNT_CAP))
                for key, table in catalog.tables.items()]
            cr.execute(sql.SQL(" UNION ALL ").join(parts))
            counts.update(cr.fetchall())
        return counts.get(key, 0)
    return existing


def _maximum(cr: Any, catalog: "Catalog") -> Callable[[str, str], int]:
    from psycopg2 import sql

    def max_of(key: str, column: str) -> int:
        table = catalog.tables[key]
        cr.execute(sql.SQL("SELECT max({}) FROM {}.{}").format(sql.Identifier(column), sql.Identifier(table.schema),
                                                                sql.Identifier(table.name)))
        return int(cr.fetchone()[0] or 0)
    return max_of


def _versions(cr: Any) -> dict[str, str]:
    from importlib.metadata import version

    from .. import __version__

    server = cr.connection.server_version
    return {"devshell": __version__, "faker": version("faker"), "psycopg2": version("psycopg2-binary"),
            "postgresql": f"{server // 10000}.{server % 10000}"}


def _load(conn: Any, cr: Any, plan: Plan, catalog: "Catalog", reporter: "Reporter",
          connect: Callable[[], Any]) -> dict[str, tuple[int, float]]:
    """Every table in one transaction: COPY, cycle UPDATEs, keys re-added, setval, the record; then commit."""
    import psycopg2
    import psycopg2.extensions

    from .builder import TableBuilder
    from .foreignkeys import hold_foreign_keys, restore_foreign_keys
    from .loader import Generation, advance_sequences, copy_table, fill_deferred, load_existing, record_run
    from .probe import Probe

    done: dict[str, tuple[int, float]] = {}
    current = "the database"
    probe = Probe(connect)
    generation = None
    switch = sys.getswitchinterval()
    # the loading thread mostly waits on PostgreSQL; when it wakes up it should not wait the default
    # 5 ms for the GIL while the generating thread runs (that is a wait per COPY read, per statement)
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        uniques = load_existing(cr, plan, catalog)
        builders = [TableBuilder(table, plan.store, plan.seed, uniques.get(table.key, {}),
                                 probe if table.opaque else None) for table in plan.tables]
        encoding = psycopg2.extensions.encodings.get(conn.encoding, "utf-8")
        generation = Generation(builders, encoding)  # starts making rows while the keys are being dropped
        held = hold_foreign_keys(cr, {(t.table.schema, t.table.name): t.count for t in plan.tables
                                      if t.table.foreign_keys})
        for index, table in enumerate(plan.tables):
            current = table.key
            started = time.perf_counter()
            reporter.start(table.key, table.count)
            copy_table(cr, table, generation.reader(index, reporter.advance))
            done[table.key] = (table.count, time.perf_counter() - started)
            reporter.finish(table.key, table.count, done[table.key][1])
        generation.close()
        for table, builder in zip(plan.tables, builders):
            current = table.key
            fill_deferred(cr, table, builder)
        current = "the sequences"
        advance_sequences(cr, plan.tables)
        current = "the foreign keys"
        restore_foreign_keys(cr, held)
        current = "the populate record"
        record_run(cr, plan, {table: rows for table, (rows, _) in done.items()}, _versions(cr))
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        text = (exc.pgerror or str(exc)).strip()
        message = text.splitlines()[0].removeprefix("ERROR:").strip() if text else type(exc).__name__
        raise DatabaseError(f"populate failed on {current}: {message} (nothing was written)") from None
    except BaseException:
        conn.rollback()
        raise
    finally:
        if generation is not None:
            generation.close()
        probe.close()
        sys.setswitchinterval(switch)
    return done


def _analyze(conn: Any, plan: Plan) -> None:
    """Fresh statistics for the query planner, after the commit."""
    from .loader import analyze

    conn.autocommit = True
    with conn.cursor() as cr:
        analyze(cr, plan)
