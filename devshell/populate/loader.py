"""Loading a plan: COPY per table in one transaction, then the cycle UPDATEs, setval, the record.

A background thread makes the rows while COPY sends them, so generation (this
process) and ingestion (the server) run on two cores. Nothing is committed until
every table is in: a run that fails or is killed leaves the database as it was.
"""

from __future__ import annotations

import io
import json
import queue
import threading
from typing import Any, Callable

from psycopg2 import sql

from .builder import TableBuilder
from .planner import Plan
from .sqltypes import NULL
from .tableplan import TablePlan, column_type

RECORD_TABLE = "devshell_populate"
EXISTING_KEYS_LIMIT = 100_000
COPY_READ_SIZE = 1 << 18
AHEAD = 3  # chunks generated ahead of COPY


class Generation:
    """Every table's chunks, made and encoded in load order by one background thread.

    COPY runs in the calling thread and libpq releases the GIL while it waits on
    the socket, so Python generation and PostgreSQL's ingestion use two cores;
    the thread may run a few chunks (or small tables) ahead of COPY.
    """

    END = object()

    def __init__(self, builders: list[TableBuilder], encoding: str) -> None:
        self._queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=AHEAD) for _ in builders]
        self._encoding = encoding
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(builders,), name="devshell-populate", daemon=True)
        self._thread.start()

    def _run(self, builders: list[TableBuilder]) -> None:
        for items, builder in zip(self._queues, builders):
            try:
                for rows, text in builder.chunks():
                    if not self._put(items, (rows, text.encode(self._encoding))):
                        return
            except BaseException as exc:  # raised again by the reader, inside copy_expert
                self._put(items, exc)
                return
            if not self._put(items, self.END):
                return

    def _put(self, items: queue.Queue[Any], item: Any) -> bool:
        while not self._stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader(self, index: int, on_rows: Callable[[int], None]) -> "ChunkReader":
        return ChunkReader(self._queues[index].get, on_rows)

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
        self.error: BaseException | None = None  # what generation raised (psycopg2 reports it as a COPY error)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        while not self._done:
            item = self._next()
            if item is Generation.END:
                self._done = True
                break
            if isinstance(item, BaseException):
                self.error = item
                raise item
            rows, data = item
            self._on_rows(rows)
            if data:  # b"" would tell psycopg2 the data has ended
                return data  # type: ignore[no-any-return]
        return b""


def _qualified(schema: str, name: str) -> sql.Composable:
    return sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(name)])


def _names(columns: Any) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in columns)


def load_existing(cr: Any, plan: Plan, catalog: Any) -> dict[str, dict[tuple[str, ...], set[Any]]]:
    """Keys of existing parent rows into the plan's store; existing unique values per table."""
    counts = {table.key: table.existing for table in plan.tables}
    for table_key, columns in plan.store.wanted():
        table = catalog.tables.get(table_key)
        if table is None or counts.get(table_key, 1) == 0:
            continue
        types = [column_type(table, name) for name in columns]
        cr.execute(sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT %s").format(
            _names(columns), _qualified(table.schema, table.name),
            sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(n)) for n in columns),
            _names(columns)), (EXISTING_KEYS_LIMIT,))
        rows = [tuple(t.from_db(v) for t, v in zip(types, row)) for row in cr.fetchall()]
        plan.store.keys(table_key, columns)[:0] = [row[0] for row in rows] if len(columns) == 1 else rows
    uniques: dict[str, dict[tuple[str, ...], set[Any]]] = {}
    for table in plan.tables:
        uniques[table.key] = {}
        if not table.existing:
            continue
        for unique in table.uniques:
            cr.execute(sql.SQL("SELECT DISTINCT {} FROM {}").format(
                _names(unique), _qualified(table.table.schema, table.table.name)))
            types = [table.types[name] for name in unique]
            uniques[table.key][unique] = {tuple(t.from_db(v) for t, v in zip(types, row)) for row in cr.fetchall()}
    return uniques


def copy_table(cr: Any, plan: TablePlan, reader: ChunkReader) -> None:
    import psycopg2

    table = plan.table
    if not plan.copy_columns:  # every column is the database's to fill: rows of defaults
        while reader.read():
            pass
        cr.execute(sql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(
            _qualified(table.schema, table.name)), (plan.count,))
        return
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(_qualified(table.schema, table.name),
                                                         _names(plan.copy_columns))
    try:
        cr.copy_expert(statement, reader, size=COPY_READ_SIZE)
    except psycopg2.Error:
        if reader.error is not None:  # generation failed, not PostgreSQL: raise that, not the aborted COPY
            raise reader.error from None
        raise


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
    """Move each sequence feeding a column devshell filled past the values now there (one round trip)."""
    statements = []
    for plan in plans:
        table = _qualified(plan.table.schema, plan.table.name)
        for column, sequence in plan.sequences.items():
            name = sql.Literal(sequence) if sequence else \
                sql.SQL("pg_get_serial_sequence({}, {})").format(sql.Literal(table.as_string(cr)), sql.Literal(column))
            statements.append(sql.SQL(
                "SELECT setval({seq}::regclass, GREATEST(max({col}), COALESCE(pg_sequence_last_value({seq}::regclass), 0)))"
                " FROM {table} HAVING count(*) > 0").format(seq=name, col=sql.Identifier(column), table=table))
    if statements:
        cr.execute(sql.SQL("; ").join(statements))


def record_run(cr: Any, plan: Plan, rows: dict[str, int], versions: dict[str, str]) -> None:
    """Remember seed, size and versions in the database, next to the rows they made."""
    cr.execute(sql.SQL("""CREATE TABLE IF NOT EXISTS {table} (
        id serial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), seed bigint NOT NULL,
        size text NOT NULL, locale text NOT NULL, rows jsonb NOT NULL, versions jsonb NOT NULL);
        INSERT INTO {table} (seed, size, locale, rows, versions) VALUES (%s, %s, %s, %s, %s)""").format(
        table=sql.Identifier(RECORD_TABLE)),
        (plan.seed, plan.size, plan.locale, json.dumps(rows), json.dumps(versions)))


def analyze(cr: Any, plan: Plan) -> None:
    if plan.tables:
        cr.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(
            _qualified(table.table.schema, table.table.name) for table in plan.tables)))
