"""Populate speed against its two baselines, side by side in one run (SPEC §3).

For a 100k-row table of 6 columns, for Pagila at ``--size large``, and for the
522-table synthetic schema of tests/synthetic_schema.py (every shape of issue 13:
composite keys, partial and expression uniques, triggers, partitions, INHERITS,
CHECK disjunctions, exclusion constraints, cycles…) at ``--synthetic-size large``:

1. devshell   ``devshell.populate(db, size)``: the whole call (reflection, plan,
              generation, COPY, setval, ANALYZE, commit), after one warm-up run
              on another database (imports and Faker's provider discovery paid once).
2. naive      what ORM factories do: one Faker call per field (en_US, default
              weighting) and ``executemany`` INSERTs in one transaction. The rows
              inserted are devshell's (read back), so every constraint holds; the
              Faker values are made and dropped, their cost is what counts.
              On the 100k table it runs on the first ``--naive-rows`` rows (a rate).
3. COPY limit the same rows, pre-generated (dumped from devshell's database), loaded
              with ``copy_expert`` table by table in one transaction: the ingest limit.
              As devshell does, user triggers are disabled in that transaction and the
              foreign keys of a cycle are added back after the rows (they cannot be
              checked row by row); the other keys and every CHECK are checked.

Each case runs ``--repeat`` rounds (the three measurements interleaved, fresh
databases each time) and shows medians: the machine's other load moves all three.
The synthetic schema has no naive baseline (a factory per table of 522 is not a
baseline anyone writes). Targets: devshell >= 15x naive and >= 0.35x the COPY limit
(Pagila), >= 0.5x the COPY limit (synthetic).

Parallel generation (``--only jobs``): the 6-column table at ``--jobs-rows`` rows
(1,000,000 by default), filled with ``jobs=--jobs`` (default: one per CPU) and with
``jobs=1``, against the COPY limit of the same rows; the two runs' rows are compared
(a digest ordered by id) and must be the same.

Usage: python benchmarks/populate_bench.py [--rows 100000] [--naive-rows 10000] [--size large] [--repeat 5]
                                           [--synthetic-size large] [--synthetic-repeat 3] [--only CASE]
                                           [--jobs-rows 1000000] [--jobs N] [--jobs-repeat 3]
Uses the embedded cluster under DEVSHELL_DATA_DIR (a temporary one when unset);
databases are created and dropped here.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
PAGILA = ROOT.parent / "shared" / "fixtures" / "pagila" / "pagila-schema.sql"
sys.path.insert(0, str(ROOT / "tests"))
WIDE_TABLE = """
CREATE TABLE bench_people (
    id serial PRIMARY KEY,
    full_name text NOT NULL,
    email varchar(120) NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    amount numeric(10, 2) NOT NULL CHECK (amount > 0),
    status text NOT NULL CHECK (status IN ('new', 'active', 'closed'))
);
"""


def sql_script(path: Path) -> str:
    return "\n".join(line for line in path.read_text().splitlines() if "OWNER TO" not in line)


class Bench:
    def __init__(self) -> None:
        from devshell.config import load_config
        from devshell.db.connection import resolve_server

        self.config = load_config()
        self.address = resolve_server(self.config)
        self.made: list[str] = []

    def connect(self, db: str) -> Any:
        from devshell.db.connection import connect

        return connect(self.address, db)

    def database(self, schema_sql: str) -> str:
        from devshell.db.admin import create_database

        name = f"bench_{uuid.uuid4().hex[:8]}"
        create_database(self.address, name)
        self.made.append(name)
        conn = self.connect(name)
        with conn, conn.cursor() as cr:
            cr.execute(schema_sql)
        conn.close()
        return name

    def copy(self, template: str) -> str:
        """A new database copied from *template* (a schema made once: 522 tables take a while)."""
        from devshell.db.admin import copy_database

        name = f"bench_{uuid.uuid4().hex[:8]}"
        copy_database(self.address, template, name)
        self.made.append(name)
        return name

    def drop_all(self, keep: int = 0) -> None:
        """Drop the databases made here, but the first *keep*."""
        from devshell.db.admin import drop_database

        for name in self.made[keep:]:
            drop_database(self.address, name, missing_ok=True)
        del self.made[keep:]

    def populate(self, db: str, size: str | int, seed: int = 1, jobs: int | None = None) -> tuple[float, Any]:
        from devshell.populate import populate

        start = time.perf_counter()
        result = populate(db, size, seed=seed, config=self.config, quiet=True, jobs=jobs)
        return time.perf_counter() - start, result

    def dump(self, db: str, plan: Any, rows: bool = True) -> list[tuple[Any, list[str], str, list[tuple[Any, ...]]]]:
        """(table, columns, COPY text, rows) per table, in load order: the pre-generated rows (*rows*: the rows as
        tuples too, for the naive baseline)."""
        from psycopg2 import sql

        out = []
        conn = self.connect(db)
        with conn, conn.cursor() as cr:
            for table_plan in plan.tables:
                table = table_plan.table
                columns = [name for name, column in table.columns.items() if not column.is_generated]
                select = sql.SQL("SELECT {} FROM {}{}.{}").format(  # ONLY: an INHERITS parent's own rows
                    sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL("ONLY " if table.kind == "r" else ""),
                    sql.Identifier(table.schema), sql.Identifier(table.name))
                buffer = io.StringIO()
                cr.copy_expert(sql.SQL("COPY ({}) TO STDOUT").format(select), buffer)
                if rows:
                    cr.execute(select)
                out.append((table_plan, columns, buffer.getvalue(), cr.fetchall() if rows else []))
        conn.close()
        return out

    def copy_limit(self, db: str, dumped: list[Any], plan: Any) -> float:
        from psycopg2 import sql

        def name(schema: str, table: str) -> sql.Composable:
            return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))

        conn = self.connect(db)
        start = time.perf_counter()
        with conn.cursor() as cr:
            loaded = [(t.table.schema, t.table.name) for t in plan.tables]
            cr.execute("SELECT DISTINCT n.nspname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal")
            triggered = [row for row in cr.fetchall() if tuple(row) in loaded]
            for schema, table in triggered:
                cr.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(name(schema, table)))
            cycle = []  # the keys of a cycle: no row order satisfies them, they are checked once at the end
            for edge in plan.broken:
                table = plan.tables[[t.key for t in plan.tables].index(edge.child)].table
                cr.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s "
                           "AND conrelid = %s::regclass", (edge.fk.name, f'"{table.schema}"."{table.name}"'))
                cycle.append((table, edge.fk.name, cr.fetchone()[0]))
                cr.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    name(table.schema, table.name), sql.Identifier(edge.fk.name)))
            for table_plan, columns, text, _rows in dumped:
                table = table_plan.table
                cr.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN").format(
                    name(table.schema, table.name), sql.SQL(", ").join(map(sql.Identifier, columns))),
                    io.StringIO(text), size=1 << 18)
            for table, constraint, definition in cycle:
                cr.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    name(table.schema, table.name), sql.Identifier(constraint), sql.SQL(definition)))
            for schema, table in triggered:
                cr.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(name(schema, table)))
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.close()
        return elapsed

    def naive(self, db: str, dumped: list[Any], limit: int | None) -> tuple[float, int]:
        from faker import Faker
        from psycopg2 import sql

        fake = Faker("en_US")
        fake.seed_instance(1)
        conn = self.connect(db)
        rows_done = 0
        start = time.perf_counter()
        with conn.cursor() as cr:
            for table_plan, columns, _text, rows in dumped:
                rows = rows[:limit] if limit else rows
                makers = [naive_maker(fake, table_plan, name) for name in columns]
                for _ in rows:
                    [make() for make in makers]  # one Faker call per field, as a factory would
                table = table_plan.table
                statement = sql.SQL("INSERT INTO {}.{} ({}) VALUES ({})").format(
                    sql.Identifier(table.schema), sql.Identifier(table.name),
                    sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(", ").join(sql.Placeholder() * len(columns)))
                cr.executemany(statement, rows)
                rows_done += len(rows)
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.close()
        return elapsed, rows_done


def naive_maker(fake: Any, table_plan: Any, column: str) -> Callable[[], Any]:
    """The Faker call an ORM factory would write for this column."""
    from devshell.populate.fakes import FAKER_METHODS, kind_for_text

    vtype = table_plan.types[column]
    if vtype.kind == "text":
        kind = kind_for_text(table_plan.table.name, column)
        method = {"full_name": "name", "email": "email", "text": "sentence", "title": "catch_phrase",
                  "label": "word", "words": "word", "password": "password", "code": "ean8",
                  "slug": "slug"}.get(kind) or FAKER_METHODS.get(kind, ("word",))[0]
        return getattr(fake, method, fake.word)
    return {"int": lambda: fake.random_int(1, 10000), "numeric": lambda: fake.pydecimal(3, 2, positive=True),
            "float": fake.pyfloat, "bool": fake.boolean, "date": fake.date_object,
            "timestamp": fake.date_time_this_decade, "enum": lambda: fake.random_element(vtype.labels or ("x",)),
            "uuid": fake.uuid4, "bytea": lambda: fake.binary(16), "array": lambda: fake.words(3),
            "tsvector": fake.sentence, "json": fake.pydict}.get(vtype.kind, fake.word)


def run_case(bench: Bench, title: str, schema_sql: str, size: str | int, naive_rows: int | None,
             repeat: int, naive: bool = True) -> dict[str, Any]:
    """The measurements, interleaved *repeat* times on fresh databases (copies of one made with
    *schema_sql*); medians reported."""
    print(f"{title}: making the schema, warming up", file=sys.stderr)
    template = bench.database(schema_sql)
    bench.populate(bench.copy(template), 10, seed=99)  # another seed: timed runs build their own pools
    rates: dict[str, list[float]] = {"devshell": [], "limit": [], "naive": []}
    total = 0
    for attempt in range(repeat):
        print(f"{title}: round {attempt + 1} of {repeat}", file=sys.stderr)
        populated = bench.copy(template)
        seconds, result = bench.populate(populated, size, seed=1 + attempt)
        total = result.total
        rates["devshell"].append(total / seconds)
        dumped = bench.dump(populated, result.plan)
        rates["limit"].append(total / bench.copy_limit(bench.copy(template), dumped, result.plan))
        if naive:
            naive_seconds, naive_count = bench.naive(bench.copy(template), dumped, naive_rows)
            rates["naive"].append(naive_count / naive_seconds)
        bench.drop_all(keep=1)  # all but the template
    bench.drop_all()
    return {"case": title, "rows": total,
            **{name: statistics.median(values) if values else None for name, values in rates.items()}}


def run_jobs_case(bench: Bench, rows: int, jobs: int, repeat: int) -> dict[str, Any]:
    """The 6-column table at *rows*: ``jobs=jobs`` and ``jobs=1`` against the COPY limit, medians of *repeat*
    rounds; each round checks that both runs wrote the same rows."""
    title = f"{rows:,}-row table, --jobs {jobs}"
    print(f"{title}: making the schema, warming up", file=sys.stderr)
    template = bench.database(WIDE_TABLE)
    bench.populate(bench.copy(template), 10, seed=99)
    rates: dict[str, list[float]] = {"parallel": [], "one": [], "limit": []}
    for attempt in range(repeat):
        print(f"{title}: round {attempt + 1} of {repeat}", file=sys.stderr)
        digests = []
        for name, count in (("parallel", jobs), ("one", 1)):
            db = bench.copy(template)
            seconds, result = bench.populate(db, rows, seed=1 + attempt, jobs=count)
            rates[name].append(result.total / seconds)
            digests.append(digest(bench, db))
        if digests[0] != digests[1]:
            raise SystemExit(f"--jobs {jobs} and --jobs 1 wrote different rows (seed {1 + attempt})")
        dumped = bench.dump(db, result.plan, rows=False)
        rates["limit"].append(result.total / bench.copy_limit(bench.copy(template), dumped, result.plan))
        bench.drop_all(keep=1)
    bench.drop_all()
    return {"case": title, "rows": rows, **{name: statistics.median(values) for name, values in rates.items()}}


def digest(bench: Bench, db: str) -> str:
    conn = bench.connect(db)
    with conn, conn.cursor() as cr:
        cr.execute("SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM bench_people t")
        found = cr.fetchone()[0]
    conn.close()
    return str(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the 6-column table")
    parser.add_argument("--naive-rows", type=int, default=10_000, help="rows the naive baseline inserts there")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per case (medians are shown)")
    parser.add_argument("--size", default="large", help="Pagila size")
    parser.add_argument("--synthetic-size", default="large", help="size of the 522-table synthetic schema")
    parser.add_argument("--synthetic-repeat", type=int, default=3, help="rounds of the synthetic case")
    parser.add_argument("--only", choices=["wide", "pagila", "synthetic", "jobs"], help="run this case only")
    parser.add_argument("--jobs-rows", type=int, default=1_000_000, help="rows of the parallel generation case")
    parser.add_argument("--jobs", type=int, default=None, help="processes of the parallel run (default: CPUs)")
    parser.add_argument("--jobs-repeat", type=int, default=3, help="rounds of the parallel generation case")
    args = parser.parse_args()
    scratch = None
    if "DEVSHELL_DATA_DIR" not in os.environ:
        scratch = Path(tempfile.mkdtemp(prefix="devshell-bench-"))
        os.chmod(scratch, 0o755)
        os.environ["DEVSHELL_DATA_DIR"] = str(scratch / "data")
    random.seed(1)
    try:
        results = measure(args)
    finally:
        if scratch is not None:  # the cluster this run started in its own folder
            from devshell.db.embedded import EmbeddedCluster

            EmbeddedCluster(scratch / "data").stop()
            shutil.rmtree(scratch, ignore_errors=True)
    parallel = [row for row in results if "parallel" in row]
    results = [row for row in results if "parallel" not in row]
    if results:
        show(results)
    for row in parallel:
        print(f"{'case':<32} {'rows':>9} {'--jobs N r/s':>13} {'--jobs 1 r/s':>13} {'COPY r/s':>10} "
              f"{'x jobs 1':>9} {'x COPY':>7}")
        print(f"{row['case']:<32} {row['rows']:>9,} {row['parallel']:>13,.0f} {row['one']:>13,.0f} "
              f"{row['limit']:>10,.0f} {row['parallel'] / row['one']:>9.2f} {row['parallel'] / row['limit']:>7.2f}")
        print("same rows with --jobs N and --jobs 1: yes (checked every round)")


def show(results: list[dict[str, Any]]) -> None:
    print(f"{'case':<30} {'rows':>8} {'devshell r/s':>13} {'naive r/s':>10} {'COPY r/s':>10} "
          f"{'x naive':>8} {'x COPY':>7}")
    for row in results:
        naive = f"{row['naive']:>10,.0f}" if row["naive"] else f"{'-':>10}"
        ratio = f"{row['devshell'] / row['naive']:>8.1f}" if row["naive"] else f"{'-':>8}"
        print(f"{row['case']:<30} {row['rows']:>8,} {row['devshell']:>13,.0f} {naive} "
              f"{row['limit']:>10,.0f} {ratio} {row['devshell'] / row['limit']:>7.2f}")
    print("targets: >= 15x naive, >= 0.35x COPY (Pagila); >= 0.5x COPY (synthetic)")


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    import synthetic_schema

    bench = Bench()
    results = []
    try:
        if args.only in (None, "wide"):
            results.append(run_case(bench, f"{args.rows:,}-row table, 6 columns", WIDE_TABLE, args.rows,
                                    args.naive_rows, args.repeat))
        if args.only in (None, "pagila") and PAGILA.is_file():
            results.append(run_case(bench, f"Pagila --size {args.size}", sql_script(PAGILA), args.size, None,
                                    args.repeat))
        if args.only in (None, "synthetic"):
            schema = synthetic_schema.build()
            results.append(run_case(bench, f"synthetic {len(schema.tables)} --size {args.synthetic_size}",
                                    schema.sql, args.synthetic_size, None, args.synthetic_repeat, naive=False))
        if args.only in (None, "jobs"):
            from devshell.populate.parallel import default_jobs

            results.append(run_jobs_case(bench, args.jobs_rows, args.jobs or default_jobs(), args.jobs_repeat))
    finally:
        bench.drop_all()
    return results


if __name__ == "__main__":
    main()
