"""One attempt at loading a plan inside the run's open transaction, every table under a savepoint.

A table that fails (PostgreSQL refuses its rows, or they cannot be generated) is
rolled back to its savepoint and recorded with the reason; the tables that point
at it are not loaded; the others go on. The caller decides what the failures
mean: an error naming them all, or (``--skip-failing``) another attempt without
them. Nothing here commits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import DevshellError
from .failures import ConnectionLost, Failure, blocked_by, database_reason, unexpected_reason
from .triggers import Trigger, disable_triggers, enable_triggers, user_triggers

if TYPE_CHECKING:
    from ..db.catalog import Catalog
    from .builder import TableBuilder
    from .planner import Plan
    from .progress import Reporter
    from .tableplan import TablePlan


@dataclass
class Outcome:
    """What an attempt loaded (rows, seconds per table), what failed, the triggers of the loaded tables."""

    done: dict[str, tuple[int, float]] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    triggers: list[Trigger] = field(default_factory=list)


TABLE_SAVEPOINT = "devshell_table"  # set before the first table, moved past each table loaded


class Savepoint:
    """``with Savepoint(cr) as point``: released on success; on a database error rolled back and kept
    in ``point.error`` (the transaction goes on); other exceptions roll back and propagate."""

    def __init__(self, cr: Any, name: str = "devshell_step") -> None:
        self.cr, self.name = cr, name
        self.error: Any = None

    def __enter__(self) -> "Savepoint":
        self.cr.execute(f"SAVEPOINT {self.name}")
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        import psycopg2

        if exc is None:
            self.cr.execute(f"RELEASE SAVEPOINT {self.name}")
            return False
        if self.cr.connection.closed:  # the server ended the session
            if isinstance(exc, psycopg2.Error) and not isinstance(exc, psycopg2.InterfaceError):
                raise ConnectionLost(database_reason(exc)) from exc
            return False
        self.cr.execute(f"ROLLBACK TO SAVEPOINT {self.name}; RELEASE SAVEPOINT {self.name}")
        if isinstance(exc, psycopg2.Error):
            self.error = exc
            return True
        return False


def load_plan(conn: Any, cr: Any, plan: "Plan", catalog: "Catalog", reporter: "Reporter", probe: Any, *,
              keep_triggers: bool, debug: bool, jobs: int = 1) -> Outcome:
    """Load every table of *plan*; COPY, cycle UPDATEs, setval and keys re-added (no commit); *jobs*: processes
    that may make the chunks of a big table."""
    import psycopg2
    import psycopg2.extensions

    from .builder import TableBuilder
    from .foreignkeys import hold_foreign_keys, restore_foreign_keys
    from .loader import Generation, load_existing

    outcome = Outcome()
    index_of = {table.key: index for index, table in enumerate(plan.tables)}
    parents = {table.key: [fk.target for fk in table.table.foreign_keys if fk.target in index_of]
               for table in plan.tables}
    generation: Generation | None = None

    def fail(key: str, reason: str) -> None:
        outcome.failures[key] = Failure(key, reason)
        blocked = blocked_by([key], parents)
        for child, needs in blocked.items():
            outcome.failures.setdefault(child, Failure(child, f"needs rows in {needs}", needs=needs))
        if generation is not None:
            generation.skip([index_of[key], *(index_of[child] for child in blocked)])

    def unreadable(key: str, exc: Exception) -> None:
        if debug and not isinstance(exc, psycopg2.Error):
            raise exc
        reason = database_reason(exc) if isinstance(exc, psycopg2.Error) else \
            unexpected_reason(exc, catalog.tables[key].columns if key in catalog.tables else ())
        fail(key, f"its existing rows cannot be read: {reason}")

    try:
        uniques = load_existing(cr, plan, catalog, unreadable)
        builders: list[Any] = []
        for table in plan.tables:
            try:
                builders.append(TableBuilder(table, plan.store, plan.seed, uniques.get(table.key, {}),
                                             probe if table.opaque or table.needs_database else None))
            except Exception as exc:
                if debug and not isinstance(exc, DevshellError):
                    raise
                builders.append(_NoRows())
                fail(table.key, exc.message if isinstance(exc, DevshellError) else
                     unexpected_reason(exc, table.table.columns))
        outcome.triggers = user_triggers(cr, [(t.table.schema, t.table.name, t.key) for t in plan.tables])
        if not keep_triggers:
            disable_triggers(cr, outcome.triggers)
        returning = _returning(plan, builders, outcome.triggers) if keep_triggers else {}
        readbacks = _partition_readbacks(plan, catalog)
        encoding = psycopg2.extensions.encodings.get(conn.encoding, "utf-8")
        generation = Generation(builders, encoding, barriers=[index_of[key] for key in {*returning, *readbacks}],
                                jobs=jobs)
        generation.skip(index_of[key] for key in outcome.failures)  # found while reading what is there
        held = hold_foreign_keys(cr, {(t.table.schema, t.table.name): t.count for t in plan.tables
                                      if t.table.foreign_keys})
        plan.key_checks = held.note  # how the foreign keys are checked (keys left to per-row checks: said)
        reporter.begin(plan)
        loading = _TableLoad(cr, plan, catalog, reporter, outcome, fail, debug)
        cr.execute(f"SAVEPOINT {TABLE_SAVEPOINT}")
        for index, (table, builder) in enumerate(zip(plan.tables, builders)):
            if table.key not in outcome.failures:
                loading.run(table, builder, generation.reader(index, reporter.advance), returning.get(table.key),
                            readbacks.get(table.key, []))
            generation.release(index)
        cr.execute(f"RELEASE SAVEPOINT {TABLE_SAVEPOINT}")
        generation.close()
        _finish(cr, plan, builders, held, outcome, fail, restore_foreign_keys, debug)
        if not keep_triggers:
            enable_triggers(cr, outcome.triggers)
    finally:
        if generation is not None:
            generation.close()
    return outcome


class _NoRows:
    """Stands for the builder of a table that failed before its rows were made."""

    key_sets: list[tuple[str, ...]] = []

    def chunks(self) -> Iterator[tuple[int, str]]:
        return iter(())


@dataclass
class _TableLoad:
    """Loads one table at the rolling savepoint: on failure, back to it and the reason to *fail*."""

    cr: Any
    plan: "Plan"
    catalog: "Catalog"
    reporter: "Reporter"
    outcome: Outcome
    fail: Callable[[str, str], None]
    debug: bool

    def run(self, table: "TablePlan", builder: "TableBuilder", reader: Any, returning: tuple[str, ...] | None,
            readbacks: list[tuple[str, tuple[str, ...], str]]) -> None:
        import psycopg2

        from .loader import adopt_keys, copy_table, insert_returning, read_partition_keys

        cr, started = self.cr, time.perf_counter()
        self.reporter.start(table.key, table.count)
        try:
            if returning:
                adopt_keys(table, builder, returning, insert_returning(cr, table, reader, returning))
            else:
                copy_table(cr, table, reader)
            for store_key, columns, partition in readbacks:
                read_partition_keys(cr, self.plan, self.catalog, store_key, columns, partition)
        except psycopg2.Error as exc:  # PostgreSQL refused the rows
            self._failed(table, database_reason(exc), hint=True)
            return
        except DevshellError as exc:  # the rows could not be generated as the constraints require
            self._failed(table, exc.message)
            return
        except Exception as exc:
            if self.debug:
                raise
            self._failed(table, unexpected_reason(exc, table.table.columns))
            return
        # one round trip moves the savepoint past this table: the next one rolls back to here
        cr.execute(f"RELEASE SAVEPOINT {TABLE_SAVEPOINT}; SAVEPOINT {TABLE_SAVEPOINT}")
        self.outcome.done[table.key] = (table.count, time.perf_counter() - started)
        self.reporter.finish(table.key, table.count, self.outcome.done[table.key][1])

    def _failed(self, table: "TablePlan", reason: str, hint: bool = False) -> None:
        if self.cr.connection.closed:  # the server ended the session: no savepoint, no other table
            raise ConnectionLost(reason, f"while loading {table.key}")
        self.cr.execute(f"ROLLBACK TO SAVEPOINT {TABLE_SAVEPOINT}")
        self.fail(table.key, reason + (_trigger_hint(self.cr, table) if hint else ""))


def _finish(cr: Any, plan: "Plan", builders: list["TableBuilder"], held: Any, outcome: Outcome,
            fail: Callable[[str, str], None], restore: Callable[[Any, Any], None], debug: bool) -> None:
    """Cycle UPDATEs, sequences past the new ids, foreign keys back: each failure named by table."""
    from .loader import advance_sequences, fill_deferred

    loaded = [(table, builder) for table, builder in zip(plan.tables, builders) if table.key in outcome.done]
    for table, builder in loaded:
        if any(slot.deferred for slot in table.slots):
            try:
                with Savepoint(cr) as point:
                    fill_deferred(cr, table, builder)
            except ConnectionLost:
                raise
            except Exception as exc:
                if debug:
                    raise
                fail(table.key, unexpected_reason(exc, table.table.columns))
                continue
            if point.error is not None:
                fail(table.key, database_reason(point.error))
    with Savepoint(cr, "devshell_keys") as point:
        restore(cr, held)
    if point.error is not None:
        failed = getattr(point.error.diag, "table_name", None)
        key = next((t.key for t in plan.tables if t.table.name == failed), None) or plan.tables[0].key
        fail(key, database_reason(point.error))
    if outcome.failures:
        return  # the attempt is rolled back: sequences (not transactional) stay as they are
    tables = [table for table, _ in loaded]
    with Savepoint(cr, "devshell_sequences") as point:
        advance_sequences(cr, tables)
    if point.error is None:
        return
    for table in tables:  # find which tables' sequences cannot move
        with Savepoint(cr, "devshell_sequences") as point:
            advance_sequences(cr, [table])
        if point.error is not None:
            fail(table.key, database_reason(point.error))


def _returning(plan: "Plan", builders: list["TableBuilder"], triggers: list[Trigger]) -> dict[str, tuple[str, ...]]:
    """Tables loaded with ``INSERT … RETURNING`` while their triggers fire: those whose BEFORE row
    trigger may change keys that other rows (or the cycle UPDATEs) point at -> the columns to read back."""
    assigning = {trigger.owner for trigger in triggers if trigger.assigns_values}
    out = {}
    for table, builder in zip(plan.tables, builders):
        if table.key not in assigning:
            continue
        columns = [name for key_set in builder.key_sets for name in key_set]
        if any(slot.deferred for slot in table.slots):
            columns += table.update_key
        if columns:
            out[table.key] = tuple(dict.fromkeys(columns))
    return out


def _partition_readbacks(plan: "Plan", catalog: "Catalog") -> dict[str, list[tuple[str, tuple[str, ...], str]]]:
    """Per partitioned table: the keys of one of its partitions that a foreign key of a later table reads."""
    from .loader import partition_sources

    partitions = partition_sources(catalog)
    loaded = {table.key for table in plan.tables}
    out: dict[str, list[tuple[str, tuple[str, ...], str]]] = {}
    for store_key, columns in plan.store.wanted():
        root = store_key.partition("#")[0]
        if store_key in partitions and root in loaded:  # (one not loaded now: its keys were read up front)
            out.setdefault(root, []).append((store_key, columns, partitions[store_key]))
    return out


def _trigger_hint(cr: Any, table: "TablePlan") -> str:
    """When rows appeared in *table* during this run (a trigger of another table wrote them), say so."""
    from psycopg2 import sql

    cr.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(table.table.schema),
                                                          sql.Identifier(table.table.name)))
    written = cr.fetchone()[0] - table.existing
    if written <= 0:
        return ""
    return f"; {written} rows were written into it during this run by a trigger (--triggers keeps them firing)"


def check_rates(plan: "Plan", probe: Any) -> list[tuple[str, str, float]]:
    """(table, CHECK, share of candidate rows it rejects) for the CHECKs left to PostgreSQL, on sample
    rows made as the load makes them (after the trial load: the parents' keys are in the store)."""
    from .builder import TableBuilder
    from .probe import sample_rejection_rates

    rates = []
    for table in plan.tables:
        if not table.opaque or not table.count:
            continue
        try:
            found, _ = sample_rejection_rates(TableBuilder(table, plan.store, plan.seed, {}, probe))
        except Exception:  # noqa: BLE001 - no sample, no rate (the trial load said what failed)
            continue
        rates += [(table.key, check.name, found[check.name]) for check in table.opaque if check.name in found]
    return rates
