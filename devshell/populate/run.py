"""``populate(db, size=…)``: reflect, plan, load in one transaction, record, analyze, report.

The load is tried (:mod:`.attempt`) under a savepoint; when tables fail, the
error names every one of them, or with ``skip_failing`` the load is tried again
without them (and the tables that need their rows), still in the one
transaction. A dry run does the same and rolls back; so does Ctrl-C. Sequences
are put back on every rollback, since nextval and setval ignore transactions.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import DevshellError, UsageError

if TYPE_CHECKING:
    from ..config import Config
    from ..db.connection import ServerAddress
    from ..db.catalog import Catalog
    from ..modules.discovery import AddonsPath
    from ..site import Site
    from .attempt import Outcome
    from .failures import Failure
    from .planner import Plan
    from .progress import Reporter
    from .shape import ShapeOptions

DEFAULT_LOCALE = "en_US"
SWITCH_INTERVAL = 0.0001  # seconds; Python's default is 0.005
COUNT_CAP = 10_000_000  # existing rows are counted up to this (enough for every decision made on them)
MAX_ATTEMPTS = 5  # with --skip-failing: loads tried, each without the tables that failed before


@dataclass
class PopulateResult:
    """What a run did (or, with ``dry_run``, would do): rows and seconds per table, the seed to reuse,
    the tables left empty and why (``skip_failing``), what happened to the triggers."""

    plan: Plan
    tables: dict[str, tuple[int, float]] = field(default_factory=dict)
    seconds: float = 0.0
    dry_run: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    tried: dict[str, int] = field(default_factory=dict)  # dry run: rows per table loaded, then rolled back
    triggers: str = ""
    checks: list[tuple[str, str, float]] = field(default_factory=list)  # dry run: (table, CHECK, rejected share)

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


def _jobs(jobs: int | None) -> int:
    """How many processes make rows: *jobs*, or one per CPU."""
    from .parallel import default_jobs

    if jobs is None:
        return default_jobs()
    if int(jobs) < 1:
        raise UsageError(f"invalid --jobs {jobs}: give 1 or more processes")
    return int(jobs)


def _check_locale(locale: str) -> str:
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        import difflib

        close = difflib.get_close_matches(locale, AVAILABLE_LOCALES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else " (e.g. en_US, fr_FR, de_DE, ja_JP)"
        raise UsageError(f"unknown locale {locale!r}{hint}")
    return locale


def populate(db: str, size: str | int | None = None, *, seed: int | None = None,
             tables: str | Iterable[str] | None = None, locale: str | None = None, dry_run: bool = False,
             config: "Config | None" = None, quiet: bool = False, site: "Site | None" = None,
             skip_failing: bool = False, triggers: bool = False, debug: bool = False, like: str | None = None,
             like_values: str = "categorical", scale: float | None = None,
             spec: "str | os.PathLike[str] | None" = None, jobs: int | None = None) -> PopulateResult:
    """Fill *db* with fake rows: *size* small (10 per table, the default), medium (100), large (1000) or a number.

    *tables* limits the run (the parents their NOT NULL foreign keys need are
    added). The same *seed* and Faker version make the same rows; without one a
    seed is drawn, shown and recorded. All or nothing: one transaction, user
    triggers disabled during it unless *triggers*. When tables cannot be filled
    the error names each; *skip_failing* leaves them empty (and the tables that
    need their rows) and loads the rest. *dry_run* plans, tries the whole load and
    rolls it back: it fails where the run would, and writes nothing.

    *like* (a database on the same server, or a connection string) gives the
    row counts and the shape of each column from that database's statistics, never
    its rows (*like_values*: categorical, all or none of its common values copied);
    *scale* is then the share of its rows, and without *like* the rows added per
    row already there. *spec* (a TOML or JSON file) declares counts and distributions.

    *jobs*: processes that make the rows of big tables (default: one per CPU); the
    same seed makes the same rows whatever their number.
    """
    from ..config import load_config
    from ..db.connection import connect, resolve_server
    from .failures import ConnectionLost, lost_connection_reason, run_level_reason
    from .planner import parse_size
    from .progress import choose_reporter
    from .shape import ShapeOptions

    options = ShapeOptions(like, like_values, None if scale is None else float(scale),
                           None if spec is None else os.fspath(spec))
    options.check(size_given=size is not None)
    size = "small" if size is None else size
    parse_size(size)  # bad input fails before anything starts
    processes = _jobs(jobs)
    names = _table_names(tables)
    locale = _check_locale(locale or DEFAULT_LOCALE)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    config = site.config if site is not None else (config or load_config())
    address = site.address if site is not None else resolve_server(config)  # a Site resolved it already
    reporter = choose_reporter(quiet)
    conn = connect(address, db)
    run = _Run(db, conn, lambda: connect(address, db), reporter, config, skip_failing=skip_failing,
               keep_triggers=triggers, debug=debug, dry_run=dry_run)
    run.shape_options, run.address = options, address
    run.addons = site.addons if site is not None else None
    run.jobs = processes
    try:
        return run.execute(size, seed, names, locale)
    except KeyboardInterrupt:
        run.undo()
        raise DevshellError("interrupted: nothing was written", exit_code=130) from None
    except DevshellError:
        raise
    except Exception as exc:  # a bug (or a server error outside any table): one line, the traceback with --debug
        if debug:
            raise
        run.undo()
        if conn.closed and not run.committed:  # the server ended the session: say what it said
            raise ConnectionLost(lost_connection_reason(exc)) from None
        state = "after the commit: the rows are in" if run.committed else "nothing was written"
        raise DevshellError(f"populate stopped ({state}): {run_level_reason(exc)}") from None
    finally:
        reporter.close()
        conn.close()


class _Run:
    """One populate call: plan, attempts in one transaction, then commit (or roll back), record, report."""

    jobs = 1  # processes making the chunks of big tables

    def __init__(self, db: str, conn: Any, connect: Callable[[], Any], reporter: "Reporter", config: "Config", *,
                 skip_failing: bool, keep_triggers: bool, debug: bool, dry_run: bool) -> None:
        self.db, self.conn, self.connect, self.reporter, self.config = db, conn, connect, reporter, config
        self.skip_failing, self.keep_triggers, self.debug, self.dry_run = skip_failing, keep_triggers, debug, dry_run
        self.sequences: list[tuple[str, int, bool]] = []
        self.shape_options: "ShapeOptions | None" = None  # --like, --spec, --scale
        self.address: "ServerAddress | None" = None
        self.addons: "AddonsPath | None" = None  # the Site's addons path, when the caller has a Site
        self.shape_notes: list[str] = []  # what --like found (tables it has no statistics for)
        self.undone = self.committed = False

    def execute(self, size: str | int, seed: int, names: list[str] | None, locale: str) -> PopulateResult:
        import psycopg2

        from ..db.catalog import reflect
        from ..db.connection import blocking_io
        from .attempt import check_rates
        from .failures import database_reason, skipped_lines
        from .history import is_devshell_database
        from .loader import sequence_state
        from .planner import SKIPPED_PREFIX
        from .probe import Probe
        from .triggers import describe

        with blocking_io(), self.conn.cursor() as cr:
            catalog = reflect(cr)
            if not names and not any(not t.name.startswith(SKIPPED_PREFIX) for t in catalog.tables.values()):
                raise DevshellError(f"database {self.db} has no table: nothing to populate")
            devshell_db = is_devshell_database(cr)
            self.sequences = sequence_state(cr, list(catalog.schemas))
            probe = Probe(self.connect)
            started = time.perf_counter()
            switch = sys.getswitchinterval()
            # the loading thread mostly waits on PostgreSQL; when it wakes up it should not wait the default
            # 5 ms for the GIL while the generating thread runs (that is a wait per COPY read, per statement)
            sys.setswitchinterval(SWITCH_INTERVAL)
            try:
                plan, outcome, failures = self._attempts(cr, catalog, probe, size=size, seed=seed, tables=names,
                                                         locale=locale)
                checks = check_rates(plan, probe) if self.dry_run else []
            except BaseException:
                self.undo()
                raise
            finally:
                probe.close()
                sys.setswitchinterval(switch)
            done = {} if self.dry_run else outcome.done
            tried = {key: rows for key, (rows, _) in outcome.done.items()} if self.dry_run else {}
            result = PopulateResult(plan, done, time.perf_counter() - started, self.dry_run,
                                    {key: f.line for key, f in failures.items()}, tried,
                                    describe(outcome.triggers, self.keep_triggers), checks)
            if self.dry_run:
                self.undo()
            else:
                self._record(cr, result, devshell_db)
                self.conn.commit()
                self.committed = True  # from here on nothing may be rolled back or put back
        if not self.dry_run:
            try:
                _analyze(self.conn, plan)
            except psycopg2.Error as exc:  # the rows are in; only the planner's statistics are missing
                self.reporter.warn(f"ANALYZE after the load failed: {database_reason(exc)}")
            if not devshell_db:
                self._record_elsewhere(result)
        self._report(result, skipped_lines(failures))
        return result

    def _attempts(self, cr: Any, catalog: "Catalog", probe: Any, **planning: Any
                  ) -> tuple["Plan", "Outcome", dict[str, "Failure"]]:
        """Plan and load; on failures, name them all, or (skip_failing) load again without them."""
        from ..db.catalog import UnknownTableError
        from .attempt import load_plan
        from ..modules.discovery import AddonsPath
        from .factories import module_contributions
        from .failures import PopulateFailed, planning_failures, unfillable
        from .planner import plan_population
        from .shape import ShapeOptions, shape_run

        counts, factories = module_contributions(self.addons or AddonsPath(self.config), cr, catalog,
                                                 seed=planning["seed"],
                                                 locale=planning["locale"])
        shape = shape_run(catalog, counts, _counter(cr, catalog), self.shape_options or ShapeOptions(),
                          tables=planning["tables"], locale=planning["locale"], address=self.address)
        planning["tables"], self.shape_notes = shape.tables, shape.notes
        excluded = unfillable(catalog)
        cr.execute("SAVEPOINT devshell_load")  # each attempt starts from here
        for attempt in range(MAX_ATTEMPTS):
            try:
                plan = plan_population(catalog, _counter(cr, catalog), _maximum(cr, catalog), overrides=shape.counts,
                                       factories=factories, exclude=excluded, debug=self.debug,
                                       declared=shape.declared,
                                       sample=_sampler(cr, catalog), **planning)
            except UnknownTableError as exc:
                raise UsageError(exc.message) from None
            failures = {**excluded, **planning_failures(plan.failures, catalog, excluded)}
            if attempt == 0 and self.dry_run:
                self.reporter.show_plan(plan)
            outcome = load_plan(self.conn, cr, plan, catalog, self.reporter, probe,
                                keep_triggers=self.keep_triggers, debug=self.debug, jobs=self.jobs)
            if not outcome.failures and (self.skip_failing or not failures):
                return plan, outcome, failures
            failures.update(outcome.failures)
            if not self.skip_failing or attempt == MAX_ATTEMPTS - 1:
                raise PopulateFailed(failures)
            cr.execute("ROLLBACK TO SAVEPOINT devshell_load")  # again, without the tables that failed
            excluded = {key: f for key, f in failures.items() if f.needs is None}
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def undo(self) -> None:
        """Roll back, and put back the sequences (nextval and setval are not transactional)."""
        import psycopg2

        from .loader import restore_sequences

        if self.undone or self.committed:
            return
        self.undone = True
        if self.conn.closed:  # the session ended, its transaction with it: the sequences remain
            self._restore_sequences_elsewhere()
            return
        self.conn.rollback()
        try:
            with self.conn.cursor() as cr:
                restore_sequences(cr, self.sequences)
            self.conn.commit()
        except psycopg2.Error:  # best effort: the rows are rolled back whatever happens here
            self.conn.rollback()

    def _restore_sequences_elsewhere(self) -> None:
        """Put the sequences back on a new connection, if the server still takes one."""
        import psycopg2

        from .loader import restore_sequences

        try:
            conn = self.connect()
        except (DevshellError, psycopg2.Error):
            return
        try:
            with conn, conn.cursor() as cr:
                restore_sequences(cr, self.sequences)
        except psycopg2.Error:
            pass  # best effort, as in undo()
        finally:
            conn.close()

    def _entry(self, result: PopulateResult) -> dict[str, Any]:
        plan = result.plan
        with self.conn.cursor() as cr:
            versions = _versions(cr)
        return {"database": self.db, "seed": plan.seed, "size": plan.size, "locale": plan.locale,
                "rows": result.rows, "versions": versions, "skipped": result.skipped}

    def _record(self, cr: Any, result: PopulateResult, devshell_db: bool) -> None:
        from .history import record_in_database

        if devshell_db:
            record_in_database(cr, self._entry(result))

    def _record_elsewhere(self, result: PopulateResult) -> None:
        from .history import record_in_data_dir

        try:
            record_in_data_dir(self.config.data_dir, self._entry(result))
        except OSError as exc:  # the rows are in: a record that cannot be written is only a warning
            self.reporter.warn(f"the run could not be recorded in {self.config.data_dir}: {exc}")

    def _report(self, result: PopulateResult, skipped: list[str]) -> None:
        reporter = self.reporter
        reporter.close()
        if skipped:
            reporter.warn(f"{len(result.skipped)} table{'s' if len(result.skipped) > 1 else ''} left empty "
                          "(--skip-failing), each with the reason:\n  " + "\n  ".join(skipped))
        notes = ([result.triggers] if result.triggers else []) + self.shape_notes
        notes += [f"{table} gets {made} row{'s' if made != 1 else ''}, not {asked}: {why}"
                  for table, (asked, made, why) in result.plan.capped.items()]  # constraints cap its rows
        notes += [result.plan.key_checks] if result.plan.key_checks else []
        if self.dry_run:
            for table, check, rate in result.checks:
                notes.append(f"CHECK {check} of {table} (left to PostgreSQL) rejects {rate:.0%} of sample rows")
            notes.append(f"dry run: {len(result.tried)} tables loaded and rolled back, nothing was written"
                         f"{'' if skipped else '; the run with this seed will succeed'}")
            for note in notes:
                reporter.note(note)
            return
        reporter.summary([(table, rows, spent) for table, (rows, spent) in result.tables.items()], result.seconds,
                         result.seed, notes)


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


def _sampler(cr: Any, catalog: "Catalog") -> Callable[[str, str], Any]:
    """``sample(table, column)``: one non-NULL value already in the column (None when there is none)."""
    from psycopg2 import sql

    def sample(key: str, column: str) -> Any:
        table = catalog.tables[key]
        cr.execute(sql.SQL("SELECT {0} FROM {1}.{2} WHERE {0} IS NOT NULL LIMIT 1").format(
            sql.Identifier(column), sql.Identifier(table.schema), sql.Identifier(table.name)))
        row = cr.fetchone()
        return None if row is None else row[0]
    return sample


def _versions(cr: Any) -> dict[str, str]:
    from importlib.metadata import version

    from ..version import __version__

    server = cr.connection.server_version
    return {"devshell": __version__, "faker": version("faker"), "psycopg2": version("psycopg2-binary"),
            "postgresql": f"{server // 10000}.{server % 10000}"}


def _analyze(conn: Any, plan: Plan) -> None:
    """Fresh statistics for the query planner, after the commit."""
    from .loader import analyze

    conn.autocommit = True
    with conn.cursor() as cr:
        analyze(cr, plan)
