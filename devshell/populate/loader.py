"""Loading a plan: COPY per table in one transaction, then the cycle UPDATEs and setval.

A background thread makes the rows while COPY sends them, so generation (this
process) and ingestion (the server) run on two cores. Nothing is committed until
every table is in: a run that fails or is killed leaves the database as it was.
"""

from __future__ import annotations

import io
import queue
import sys
import threading
from typing import Any, Callable, Iterable, Iterator

from psycopg2 import sql

from .builder import TableBuilder
from .planner import Plan
from .sqltypes import NULL
from .tableplan import TablePlan, column_type

EXISTING_KEYS_LIMIT = 100_000
COPY_READ_SIZE = 1 << 18
AHEAD = 3  # chunks generated ahead of COPY


class Generation:
    """Every table's chunks, made and encoded in load order by one background thread.

    COPY runs in the calling thread and libpq releases the GIL while it waits on
    the socket, so Python generation and PostgreSQL's ingestion use two cores;
    the thread may run a few chunks (or small tables) ahead of COPY, and a big
    table's chunks may be made by several processes (``jobs``: :mod:`.parallel`). A table
    that fails hands its exception to its reader and the thread goes on with the
    next ones; tables the loader gives up on are ``skip``ped. After a *barrier*
    table the thread waits for ``release``: the keys its children read come back
    from the database (a trigger gave them, or they are one partition's).
    """

    END = object()

    def __init__(self, builders: list[TableBuilder], encoding: str, barriers: Iterable[int] = (),
                 jobs: int = 1) -> None:
        self._queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=AHEAD) for _ in builders]
        self._encoding = encoding
        self._jobs = jobs  # processes that may make a big table's chunks (see .parallel)
        self._stop = threading.Event()
        self._skipped: set[int] = set()
        self._released = {index: threading.Event() for index in barriers}
        self._thread = threading.Thread(target=self._run, args=(builders,), name="devshell-populate", daemon=True)
        self._thread.start()

    def _run(self, builders: list[TableBuilder]) -> None:
        for index, builder in enumerate(builders):
            if index not in self._skipped and not self._make(index, builder):
                return
            released = self._released.get(index)
            while released is not None and not released.wait(0.1):
                if self._stop.is_set():
                    return

    def _make(self, index: int, builder: TableBuilder) -> bool:
        """One table's chunks into its queue, then END (or the exception); False once stopped."""
        from .parallel import chunks

        try:
            for rows, data in chunks(builder, self._encoding, self._jobs):
                if index in self._skipped:
                    return True
                if not self._put(index, (rows, data)):
                    return False
        except Exception as exc:  # raised again by the reader, inside copy_expert
            return self._put(index, exc)
        return self._put(index, self.END)

    def _put(self, index: int, item: Any) -> bool:
        while not self._stop.is_set():
            if index in self._skipped:
                return True
            try:
                self._queues[index].put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader(self, index: int, on_rows: Callable[[int], None]) -> "ChunkReader":
        return ChunkReader(self._queues[index].get, on_rows)

    def skip(self, indexes: Iterable[int]) -> None:
        """Make no more rows for these tables (they failed, or need rows in one that did)."""
        indexes = list(indexes)
        self._skipped.update(indexes)
        for index in indexes:
            self.release(index)

    def release(self, index: int) -> None:
        """The keys of barrier table *index* are final: the next tables may be made."""
        if index in self._released:
            self._released[index].set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class ChunkReader(io.RawIOBase):
    """What ``copy_expert`` reads: each ``read()`` hands over one whole encoded chunk (psycopg2
    sends whatever ``read`` returns, so nothing is sliced or copied again)."""

    def __init__(self, next_item: Callable[[], Any], on_rows: Callable[[int], None]) -> None:
        self._next = next_item
        self._on_rows = on_rows
        self._done = False
        self.error: BaseException | None = None  # what read() raised (psycopg2 reports it as a COPY error)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            while not self._done:
                item = self._next()
                if item is Generation.END:
                    self._done = True
                    break
                if isinstance(item, BaseException):
                    raise item
                rows, data = item
                self._on_rows(rows)
                if data:  # b"" would tell psycopg2 the data has ended
                    return data  # type: ignore[no-any-return]
        except BaseException as exc:  # psycopg2 would only say "error in .read() call": keep it (Ctrl-C too)
            self.error = exc
            raise
        return b""

    def drain(self) -> None:
        """Read to the end (rows of a table that is loaded some other way)."""
        while self.read():
            pass


def _qualified(schema: str, name: str) -> sql.Composable:
    return sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(name)])


def _names(columns: Any) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in columns)


def partition_sources(catalog: Any) -> dict[str, str]:
    """{key store name: "schema.partition"} of the foreign keys that reference one partition."""
    return {fk.source: fk.ref_partition for table in catalog.tables.values() for fk in table.foreign_keys
            if fk.ref_partition}


def load_existing(cr: Any, plan: Plan, catalog: Any, failed: Callable[[str, Exception], None]
                  ) -> dict[str, dict[tuple[str, ...], list[Any]]]:
    """Keys of existing parent rows into the plan's store; existing rows per table, read by the column
    sets its unique keys and exclusion constraints read (``TablePlan.uniques``; the builder makes keys).
    A table whose rows cannot be read this way is handed to *failed* (the others go on)."""
    counts = {table.key: table.existing for table in plan.tables}
    partitions = partition_sources(catalog)
    for table_key, columns in plan.store.wanted():
        table = catalog.tables.get(table_key)
        if table_key in partitions:
            _guarded(cr, table_key.partition("#")[0], failed, read_partition_keys, cr, plan, catalog, table_key,
                     columns, partitions[table_key])
        elif table is not None and counts.get(table_key, 1) != 0:
            _guarded(cr, table_key, failed, _read_keys, cr, plan, table, table_key, columns,
                     _qualified(table.schema, table.name))
    uniques: dict[str, dict[tuple[str, ...], list[Any]]] = {}
    for plan_table in plan.tables:
        uniques[plan_table.key] = {}
        if plan_table.existing:
            _guarded(cr, plan_table.key, failed, _read_uniques, cr, plan_table, uniques[plan_table.key])
    return uniques


def _read_uniques(cr: Any, plan: TablePlan, found: dict[tuple[str, ...], list[Any]]) -> None:
    for unique in plan.uniques:
        cr.execute(sql.SQL("SELECT DISTINCT {} FROM {}").format(
            _names(unique), _qualified(plan.table.schema, plan.table.name)))
        types = [plan.types[name] for name in unique]
        found[unique] = [tuple(t.from_db(v) for t, v in zip(types, row)) for row in cr.fetchall()]


def _guarded(cr: Any, key: str, failed: Callable[[str, Exception], None], read: Callable[..., None],
             *args: Any) -> None:
    """``read(*args)`` under a savepoint: a failure is *key*'s (handed to *failed*), not the run's."""
    cr.execute("SAVEPOINT devshell_read")
    try:
        read(*args)
    except Exception as exc:  # noqa: BLE001 - reported per table, with what it was doing
        cr.execute("ROLLBACK TO SAVEPOINT devshell_read")
        failed(key, exc)
    cr.execute("RELEASE SAVEPOINT devshell_read")


def _read_keys(cr: Any, plan: Plan, table: Any, store_key: str, columns: tuple[str, ...],
               relation: sql.Composable, *, replace: bool = False) -> None:
    types = [column_type(table, name) for name in columns]
    cr.execute(sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT %s").format(
        _names(columns), relation,
        sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(n)) for n in columns),
        _names(columns)), (EXISTING_KEYS_LIMIT,))
    rows = [tuple(t.from_db(v) for t, v in zip(types, row)) for row in cr.fetchall()]
    keys = plan.store.keys(store_key, columns)
    keys[:len(keys) if replace else 0] = [row[0] for row in rows] if len(columns) == 1 else rows


def read_partition_keys(cr: Any, plan: Plan, catalog: Any, store_key: str, columns: tuple[str, ...],
                        partition: str) -> None:
    """The keys that landed in one partition (the rows of its parent the database routed there)."""
    table = catalog.tables[store_key.partition("#")[0]]
    schema, _, name = partition.partition(".")
    _read_keys(cr, plan, table, store_key, columns, _qualified(schema, name), replace=True)


def copy_table(cr: Any, plan: TablePlan, reader: ChunkReader) -> None:
    table = plan.table
    if not plan.copy_columns:  # every column is the database's to fill: rows of defaults
        reader.drain()
        cr.execute(sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(
            _qualified(table.schema, table.name)), (plan.count,))
        return
    _copy_in(cr, sql.SQL("COPY {} ({}) FROM STDIN").format(_qualified(table.schema, table.name),
                                                          _names(plan.copy_columns)), reader)


def _copy_in(cr: Any, statement: sql.Composable, reader: ChunkReader) -> None:
    """``copy_expert``, raising what went wrong: the reader's error (generation failed, or Ctrl-C), or
    PostgreSQL's own error when the server ended the session (psycopg2 then raises "invalid socket" and
    prints, through ``sys.excepthook``, the error it met while raising it: kept here, not printed)."""
    import psycopg2

    printed: list[BaseException] = []
    hook = sys.excepthook
    sys.excepthook = lambda kind, value, tb: printed.append(value)  # only this (main) thread is running it
    try:
        cr.copy_expert(statement, reader, size=COPY_READ_SIZE)
    except Exception:
        if reader.error is not None:
            raise reader.error from None
        server = next((error for error in _chain(printed) if isinstance(error, psycopg2.Error)), None)
        if server is not None and cr.connection.closed:
            raise server from None
        raise
    finally:
        sys.excepthook = hook


def _chain(errors: list[BaseException]) -> Iterator[BaseException]:
    """*errors* and the exceptions they were raised from, innermost first for each."""
    for error in errors:
        found: list[BaseException] = []
        current: BaseException | None = error
        while current is not None and current not in found:
            found.append(current)
            current = current.__cause__ or current.__context__
        yield from reversed(found)


def insert_returning(cr: Any, plan: TablePlan, reader: ChunkReader,
                     returning: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Load through a staging table and ``INSERT … RETURNING``: the values a BEFORE trigger set on
    *returning*, one tuple per row in the order the rows were made."""
    table = plan.table
    target = _qualified(table.schema, table.name)
    staging = sql.Identifier(f"devshell_stage_{table.name}"[:60])
    columns = plan.copy_columns
    order = sql.Identifier("devshell_row")
    cr.execute(sql.SQL("CREATE TEMP TABLE {s} ON COMMIT DROP AS SELECT {cols} FROM {t} WITH NO DATA; "
                       "ALTER TABLE {s} ADD COLUMN {n} bigint GENERATED ALWAYS AS IDENTITY").format(
        s=staging, cols=_names(columns) if columns else sql.SQL(""), t=target, n=order))
    if columns:
        _copy_in(cr, sql.SQL("COPY {} ({}) FROM STDIN").format(staging, _names(columns)), reader)
    else:
        reader.drain()
        cr.execute(sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(staging), (plan.count,))
    cr.execute(sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM {s} ORDER BY {n} RETURNING {ret}").format(
        t=target, s=staging, n=order, cols=_names(columns), ret=_names(returning)) if columns else
        sql.SQL("INSERT INTO {t} SELECT FROM {s} ORDER BY {n} RETURNING {ret}").format(
        t=target, s=staging, n=order, ret=_names(returning)))
    rows = cr.fetchall()
    cr.execute(sql.SQL("DROP TABLE {}").format(staging))
    return [tuple(plan.types[name].from_db(value) for name, value in zip(returning, row)) for row in rows]


def adopt_keys(plan: TablePlan, builder: TableBuilder, returning: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """The keys a trigger gave the rows replace devshell's, where the tables after this one read them."""
    where = {name: index for index, name in enumerate(returning)}
    for columns in builder.key_sets:
        keys = builder.store.keys(plan.key, columns)
        base = builder.key_base[columns]
        made = [row[where[columns[0]]] for row in rows] if len(columns) == 1 else \
            [tuple(row[where[name]] for name in columns) for row in rows]
        keys[base:base + len(made)] = made
    if builder.update_keys:
        builder.update_keys = [tuple(row[where[name]] for name in plan.update_key) for row in rows]


def fill_deferred(cr: Any, plan: TablePlan, builder: TableBuilder) -> None:
    """Set the foreign keys loaded as NULL (broken cycles) now that their parents exist."""
    table = plan.table
    key = list(plan.update_key)
    for slot in plan.slots:
        if slot.deferred is None:
            continue
        rows = builder.deferred_values(slot)
        staging = sql.Identifier(f"devshell_fill_{table.name}"[:60])
        columns = key + list(slot.columns)
        cr.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            staging, _names(columns), _qualified(table.schema, table.name)))
        types = [plan.types[name] for name in columns]
        text = "".join("\t".join(NULL if v is None else t.formatter(v) for t, v in zip(types, row)) + "\n"
                       for row in rows)
        cr.copy_expert(sql.SQL("COPY {} FROM STDIN").format(staging), io.StringIO(text), size=COPY_READ_SIZE)
        cr.execute(sql.SQL("UPDATE {target} AS t SET {sets} FROM {staging} AS s WHERE {match}").format(
            target=_qualified(table.schema, table.name), staging=staging,
            sets=sql.SQL(", ").join(sql.SQL("{0} = s.{0}").format(sql.Identifier(n)) for n in slot.columns),
            match=sql.SQL(" AND ").join(sql.SQL("t.{0} = s.{0}").format(sql.Identifier(n)) for n in key)))
        cr.execute(sql.SQL("DROP TABLE {}").format(staging))


def advance_sequences(cr: Any, plans: list[TablePlan]) -> None:
    """Move each sequence feeding a column devshell filled past the values now there, never back
    (a sequence restarted at 1000 keeps its 1000 when the ids made are below it)."""
    parts = []
    for plan in plans:
        table = _qualified(plan.table.schema, plan.table.name)
        for column, sequence in plan.sequences.items():
            name = sql.Literal(sequence) if sequence else \
                sql.SQL("pg_get_serial_sequence({}, {})").format(sql.Literal(table.as_string(cr)), sql.Literal(column))
            parts.append(sql.SQL("SELECT (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
                                 "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE c.oid = {seq}::regclass), max({col}) FROM {table}").format(
                seq=name, col=sql.Identifier(column), table=table))
    if not parts:
        return
    cr.execute(sql.SQL(" UNION ALL ").join(parts))
    highest: dict[str, int] = {}
    for name, value in cr.fetchall():
        if name is not None and value is not None:
            highest[name] = max(highest.get(name, value), value)
    states = _sequence_states(cr, list(highest))
    moves = [sql.SQL("SELECT setval({}::regclass, {})").format(sql.Literal(name), sql.Literal(value))
             for name, value in highest.items()
             if value >= states[name][0] + (states[name][2] if states[name][1] else 0)]
    if moves:
        cr.execute(sql.SQL("; ").join(moves))


def _sequence_states(cr: Any, names: list[str]) -> dict[str, tuple[int, bool, int]]:
    """name -> (last_value, is_called, increment), read from the sequences themselves (the only place a
    ``RESTART`` shows before the next nextval)."""
    if not names:
        return {}
    cr.execute(sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, last_value, is_called, (SELECT seqincrement FROM pg_sequence WHERE seqrelid = {}::regclass)"
                " FROM {}").format(sql.Literal(name), sql.Literal(name), sql.SQL(name)) for name in names))
    return {name: (last, called, step) for name, last, called, step in cr.fetchall()}


def sequence_state(cr: Any, schemas: list[str]) -> list[tuple[str, int, bool]]:
    """(name, last_value, is_called) of every sequence of *schemas* this role may set."""
    cr.execute("SELECT name FROM (SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS name "
               "FROM pg_sequences WHERE schemaname = ANY(%s)) s "
               "WHERE has_sequence_privilege(name, 'SELECT') AND has_sequence_privilege(name, 'UPDATE')",
               (schemas,))
    names = [name for (name,) in cr.fetchall()]
    return [(name, last, called) for name, (last, called, _) in _sequence_states(cr, names).items()]


def restore_sequences(cr: Any, state: list[tuple[str, int, bool]]) -> None:
    """Put sequences back as :func:`sequence_state` found them (nextval and setval ignore rollbacks)."""
    if state:
        cr.execute(sql.SQL("; ").join(
            sql.SQL("SELECT setval({}::regclass, {}, {})").format(sql.Literal(name), sql.Literal(last),
                                                                 sql.Literal(called))
            for name, last, called in state))


def analyze(cr: Any, plan: Plan) -> None:
    if plan.tables:
        cr.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(
            _qualified(table.table.schema, table.table.name) for table in plan.tables)))
