"""Parallel generation (issue 18, item 5): ``--jobs 1`` and ``--jobs 4`` write the same rows for a seed.

The tables have several chunks each, unique keys that clash across chunks (emails,
``(account_id, n)``), a row CHECK, a column comparison and a foreign key into a table
made in parallel; ``customer`` is a tree over its own rows (made in one process).
Every table's rows, ordered by key, are compared through a digest.
"""

from __future__ import annotations

from conftest import assert_one_line_error, query, run_devshell

SCHEMA = """
CREATE TABLE customer (id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
    email varchar(80) NOT NULL UNIQUE, status text NOT NULL, balance numeric(10,2) NOT NULL DEFAULT 25.00,
    parent_id int REFERENCES customer);
CREATE TABLE account (id serial PRIMARY KEY, email varchar(80) NOT NULL UNIQUE, created_at timestamptz NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, account_id int NOT NULL REFERENCES account, n int NOT NULL,
    quantity int NOT NULL CHECK (quantity BETWEEN 0 AND 50), price numeric(8,2) NOT NULL,
    starts date NOT NULL, ends date NOT NULL, CHECK (ends >= starts),
    CHECK (quantity > 0 OR price = 0), UNIQUE (account_id, n));
CREATE TABLE line (id serial PRIMARY KEY, order_id int NOT NULL REFERENCES orders, note text);
"""
TABLES = ("customer", "account", "orders", "line")
ROWS = "12000"  # 3 chunks per table


def digests(address, db: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [query(address, db, f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t")[0]
            for table in TABLES]


def test_jobs_1_and_4_write_the_same_rows(address, new_db) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.admin import create_database, drop_database
    from devshell.db.connection import connect

    other = new_db + "_4"
    create_database(address, other)
    try:
        found = {}
        for jobs, db in (("1", new_db), ("4", other)):
            conn = connect(address, db)
            with conn, conn.cursor() as cr:
                cr.execute(SCHEMA)
            conn.close()
            done = run_devshell("populate", "-d", db, "--size", ROWS, "--seed", "11", "--jobs", jobs, timeout=600)
            assert done.returncode == 0, done.stderr
            found[jobs] = digests(address, db)
        assert [count for count, _ in found["1"]] == [12000] * len(TABLES)
        assert found["1"] == found["4"]
        # the keys made in parallel are the ones the child table points at, and every unique holds
        assert query(address, other, "SELECT count(DISTINCT email) FROM account") == [(12000,)]
        assert query(address, other, "SELECT count(*) FROM orders WHERE ends < starts") == [(0,)]
    finally:
        drop_database(address, other, missing_ok=True)


def test_jobs_must_be_positive(new_db) -> None:  # type: ignore[no-untyped-def]
    line = assert_one_line_error(run_devshell("populate", "-d", new_db, "--jobs", "0"), 2)
    assert "--jobs" in line
