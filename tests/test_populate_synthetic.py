"""The 500-table synthetic schema (tests/synthetic_schema.py) filled at --size medium, every table.

It stands for the large production schemas of issue 13: every shape the issue
lists, many times over, in several schemas. The run must exit 0 and leave rows in
every table: 100 each, or as many as the table's constraints allow (its cap).
"""

from __future__ import annotations

from typing import Any

from conftest import execute, query, run_devshell

import synthetic_schema

MEDIUM = 100


def row_counts(address: Any, db: str, tables: list[str]) -> dict[str, int]:
    """Rows per table, in one query: an INHERITS parent's own (ONLY), a partitioned parent's partitions'."""
    kinds = dict(query(address, db, "SELECT t, (SELECT relkind FROM pg_class WHERE oid = to_regclass(t)) "
                                    "FROM unnest(%s::text[]) t", (tables,)))
    parts = [f"SELECT '{table}', count(*) FROM {'ONLY ' if kinds[table] == 'r' else ''}{table}" for table in tables]
    return dict(query(address, db, " UNION ALL ".join(parts)))


def test_schema_is_large_and_deterministic() -> None:
    schema = synthetic_schema.build()
    assert len(schema.tables) >= 500 and len(set(schema.tables)) == len(schema.tables)
    assert len({table.split(".")[0] for table in schema.tables}) >= 4
    assert synthetic_schema.build().sql == schema.sql
    assert synthetic_schema.build(seed=14).sql != schema.sql


def test_every_table_filled_at_medium(address, new_db) -> None:  # type: ignore[no-untyped-def]
    schema = synthetic_schema.build()
    execute(address, new_db, schema.sql)

    # the dry run tries the same load, says it will succeed, and leaves every table empty
    dry = run_devshell("populate", "-d", new_db, "--size", "medium", "--seed", "3", "--dry-run", timeout=600)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert f"dry run: {len(schema.tables)} tables loaded and rolled back, nothing was written; " \
           "the run with this seed will succeed" in dry.stdout
    assert set(row_counts(address, new_db, schema.tables).values()) == {0}

    result = run_devshell("populate", "-d", new_db, "--size", "medium", "--seed", "3", timeout=600)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    counts = row_counts(address, new_db, schema.tables)
    wrong = {table: rows for table, rows in counts.items() if rows != schema.caps.get(table, MEDIUM)}
    assert not wrong, wrong
    # the tables the schema makes are the tables populate sees: none left out by the test
    found = query(address, new_db, """
        SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND n.nspname = ANY(%s) AND c.relname NOT LIKE 'devshell\\_%%'""", (list(synthetic_schema.SCHEMAS),))
    assert found[0][0] == len(schema.tables)


def test_second_run_on_the_filled_schema(address, new_db) -> None:  # type: ignore[no-untyped-def]
    """Populate run again on its own rows, with the same seed: the values it makes again (jsonb and array
    uniques, padded char keys, unique keys set by the cycle UPDATEs, ranges under exclusion constraints)
    must keep clear of the rows already there."""
    schema = synthetic_schema.build()
    execute(address, new_db, schema.sql)
    small = 10
    for run in (1, 2):
        result = run_devshell("populate", "-d", new_db, "--size", "small", "--seed", "3", timeout=600)
        assert result.returncode == 0, (run, result.stderr[-3000:])
        counts = row_counts(address, new_db, schema.tables)
        wrong = {table: rows for table, rows in counts.items()
                 if rows != min(schema.caps.get(table, small * run), small * run)}
        assert not wrong, (run, wrong)
