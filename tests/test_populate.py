"""`devshell populate`: Pagila at every size, foreign-key shapes, CHECKs, atomicity, factories, the CLI.

Every load runs with the schema's constraints enforced, so a load that succeeds
is itself the proof that no foreign key, unique or CHECK was violated; the tests
add explicit checks of a few on top.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any, Iterator

import pytest

from conftest import (DATA_DIR, FIXTURES, load_sql_script, query, read_stderr_until, run_devshell, unique_name,
                      wait_for_statement)

from devshell.config import load_config
from devshell.errors import DevshellError, UsageError
from devshell.populate import populate
from devshell.populate.history import runs_in_data_dir

PAGILA_TABLES = ["actor", "address", "category", "city", "country", "customer", "film", "film_actor",
                 "film_category", "inventory", "language", "payment", "rental", "staff", "store"]



def scalar(address: Any, db: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    return query(address, db, sql, params)[0][0]


def counts(address: Any, db: str, tables: list[str]) -> dict[str, int]:
    return {table: scalar(address, db, f'SELECT count(*) FROM "{table}"') for table in tables}


def foreign_keys(address: Any, db: str) -> list[tuple[Any, ...]]:
    return query(address, db, "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
                              "FROM pg_constraint WHERE contype = 'f' ORDER BY 1, 2")


@pytest.fixture
def schema_db(address, new_db):  # type: ignore[no-untyped-def]
    """A factory: the fresh database loaded with one of the populate_*.sql fixtures."""
    def load(name: str) -> str:
        load_sql_script(address, new_db, FIXTURES / f"populate_{name}.sql")
        return new_db
    return load


@pytest.fixture
def pagila_copies(address, pagila_template) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    from devshell.db.admin import copy_database, drop_database

    names = [unique_name("pagila") for _ in range(3)]
    for name in names:
        copy_database(address, pagila_template, name)
    yield names
    for name in names:
        drop_database(address, name, missing_ok=True)


@pytest.mark.parametrize("size, rows", [("small", 10), ("medium", 100), ("large", 1000)])
def test_pagila_every_table_filled_at_every_size(address, pagila_db, size, rows) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect

    conn = connect(address, pagila_db)
    with conn, conn.cursor() as cr:
        cr.execute("COMMENT ON CONSTRAINT rental_customer_id_fkey ON rental IS 'who rented it'")
    conn.close()
    keys_before = foreign_keys(address, pagila_db)
    result = populate(pagila_db, size, seed=7, quiet=True)

    assert counts(address, pagila_db, PAGILA_TABLES) == {table: rows for table in PAGILA_TABLES}
    assert result.total == rows * len(PAGILA_TABLES) and result.seed == 7
    # foreign keys (dropped and re-added around a large load) are back exactly as they were, validated
    assert foreign_keys(address, pagila_db) == keys_before
    assert scalar(address, pagila_db, "SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint "
                                      "WHERE conname = 'rental_customer_id_fkey'") == "who rented it"
    # payments landed inside the existing partitions (there is no default partition)
    assert scalar(address, pagila_db, "SELECT count(*) FROM payment WHERE payment_date < '2022-01-01' "
                                      "OR payment_date >= '2022-08-01'") == 0
    assert scalar(address, pagila_db, "SELECT count(DISTINCT tableoid) FROM payment") > 1
    # the composite unique over two foreign keys, the domain's CHECK, the enum
    assert scalar(address, pagila_db, "SELECT count(DISTINCT (rental_date, inventory_id, customer_id)) "
                                      "FROM rental") == rows
    assert scalar(address, pagila_db, "SELECT count(*) FROM film WHERE release_year NOT BETWEEN 1901 AND 2155") == 0
    assert scalar(address, pagila_db, "SELECT count(*) FROM film_actor") == \
        scalar(address, pagila_db, "SELECT count(DISTINCT (actor_id, film_id)) FROM film_actor")
    # coherent rows: a customer's email comes from their own name
    emails = query(address, pagila_db, "SELECT lower(first_name), lower(last_name), email FROM customer "
                                       "WHERE email IS NOT NULL")
    assert all(last.replace(" ", "").replace("'", "").replace("-", "") in email for _, last, email in emails)
    # sequences moved past the ids devshell assigned; the run is recorded with its seed and versions
    assert scalar(address, pagila_db, "SELECT nextval('public.customer_customer_id_seq')") == rows + 1
    # (Pagila is not a devshell database: no devshell table in it, the record is in the data dir)
    assert scalar(address, pagila_db, "SELECT to_regclass('devshell_populate') IS NULL")
    run = runs_in_data_dir(DATA_DIR, pagila_db)[-1]
    assert run["seed"] == 7 and {"faker", "devshell", "postgresql"} <= set(run["versions"])
    assert scalar(address, pagila_db, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                      "WHERE relname = 'customer'")
    # fan-out is skewed, not round-robin: some customers rent a lot, some nothing
    busiest, idle = query(address, pagila_db, """
        SELECT max(n), count(*) FILTER (WHERE n = 0) FROM (
            SELECT count(r.rental_id) AS n FROM customer c LEFT JOIN rental r USING (customer_id)
             GROUP BY c.customer_id) t""")[0]
    # round-robin would give every customer exactly one (10 rentals: a skewed draw need not reach 3)
    assert busiest >= (3 if rows > 10 else 2) and idle > 0


def test_same_seed_same_rows_another_seed_other_rows(address, pagila_copies) -> None:  # type: ignore[no-untyped-def]
    first, second, third = pagila_copies
    for db, seed in ((first, 11), (second, 11), (third, 12)):
        populate(db, "medium", seed=seed, quiet=True)

    def checksum(db: str) -> str:
        parts = []
        for table, columns in (("customer", "customer_id, store_id, first_name, last_name, email, address_id"),
                               ("film", "film_id, title, description, release_year, rental_rate, rating"),
                               ("rental", "rental_id, rental_date, inventory_id, customer_id, return_date"),
                               ("payment", "payment_id, customer_id, rental_id, amount, payment_date")):
            parts.append(scalar(address, db, f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) "
                                             f"FROM (SELECT {columns} FROM {table}) t"))
        return "".join(parts)

    assert checksum(first) == checksum(second)
    assert checksum(first) != checksum(third)


def test_cycle_broken_and_trees_and_identity(address, schema_db) -> None:  # type: ignore[no-untyped-def]
    db = schema_db("graph")
    populate(db, 40, seed=3, quiet=True, tables=["team", "player", "folder", "employee"])

    assert counts(address, db, ["team", "player", "folder", "employee"]) == dict.fromkeys(
        ["team", "player", "folder", "employee"], 40)
    # the nullable side of the cycle was loaded as NULL, then filled by an UPDATE with real players
    assert scalar(address, db, "SELECT count(*) FROM team WHERE captain_id IS NOT NULL") > 20
    assert scalar(address, db, "SELECT count(*) FROM team t LEFT JOIN player p ON p.id = t.captain_id "
                               "WHERE t.captain_id IS NOT NULL AND p.id IS NULL") == 0
    # NOT NULL self-reference: one root pointing at itself, every other row at an earlier one
    assert query(address, db, "SELECT id FROM folder WHERE parent_id = id") == [(1,)]
    assert scalar(address, db, "SELECT count(*) FROM folder WHERE parent_id > id") == 0
    # nullable self-reference: roots hold NULL; the identity (GENERATED ALWAYS) moved past the ids
    assert scalar(address, db, "SELECT count(*) FROM employee WHERE manager_id >= id") == 0
    assert query(address, db, "SELECT manager_id FROM employee WHERE id = 1") == [(None,)]
    from devshell.db.connection import connect

    conn = connect(address, db)
    with conn, conn.cursor() as cr:
        cr.execute("INSERT INTO employee (full_name) VALUES ('New Hire') RETURNING id")
        assert cr.fetchone()[0] == 41
        conn.rollback()
    conn.close()


def test_second_run_adds_rows_and_keeps_uniques(address, schema_db) -> None:  # type: ignore[no-untyped-def]
    db = schema_db("graph")
    for _ in range(2):  # the same seed twice: the same emails come out and must be made unique
        populate(db, 30, seed=5, quiet=True, tables=["player"])
    assert counts(address, db, ["team", "player"]) == {"team": 30, "player": 60}
    assert scalar(address, db, "SELECT count(DISTINCT email) = count(email) FROM player")


def test_dense_composite_unique_over_foreign_keys(address, schema_db) -> None:  # type: ignore[no-untyped-def]
    db = schema_db("graph")
    populate(db, 3, seed=1, quiet=True, tables=["seat"])  # its parents come along: 3 x 3 seats, 3 used
    populate(db, 1, seed=1, quiet=True, tables=["seat_col"])  # now 3 x 4 seats
    populate(db, 9, seed=1, quiet=True, tables=["seat"])  # exactly the 9 combinations left
    assert counts(address, db, ["seat_row", "seat_col", "seat"]) == {"seat_row": 3, "seat_col": 4, "seat": 12}
    assert scalar(address, db, "SELECT count(DISTINCT (row_id, col_id)) FROM seat") == 12

    # no combination left: the table is capped (nothing added, the run goes on and says why)
    result = populate(db, 1, seed=2, quiet=True, tables=["seat"])
    assert result.plan.capped["seat"] == (1, 0, "its unique (row_id, col_id) allows only 12 distinct values")
    assert scalar(address, db, "SELECT count(*) FROM seat") == 12


def test_checks_domains_enums_partitions(address, schema_db) -> None:  # type: ignore[no-untyped-def]
    db = schema_db("checks")
    populate(db, 300, seed=9, quiet=True)

    tables = ["product", "event", "reading", "Odd Things", "audit_tick"]
    assert counts(address, db, tables) == dict.fromkeys(tables, 300)
    bad = scalar(address, db, """
        SELECT count(*) FROM product
         WHERE NOT (price > 0 AND price < 500) OR discount NOT BETWEEN 0 AND 100
            OR status NOT IN ('draft', 'active', 'retired') OR length(code) <> 6 OR char_length(name) < 3
            OR ends_on < starts_on OR starts_on NOT BETWEEN '2021-01-01' AND '2021-12-31'
            OR even_number % 2 <> 0 OR weight < 0.5 OR length(zip) <> 5 OR name = code""")
    assert bad == 0
    assert scalar(address, db, "SELECT count(DISTINCT status) FROM product") == 3
    assert scalar(address, db, "SELECT count(DISTINCT mood) FROM product") == 3
    assert scalar(address, db, "SELECT count(*) FROM product WHERE total <> discount * 2") == 0  # generated column
    # list and range partitions: every row in an existing partition, both used
    assert scalar(address, db, "SELECT count(*) FROM event_europe") > 0
    assert scalar(address, db, "SELECT count(*) FROM event_america") > 0
    assert scalar(address, db, "SELECT count(*) FROM reading WHERE NOT (sensor < 10 OR sensor BETWEEN 100 AND 199)") == 0
    # quoted names, every other type; range types are made too (issue 13), non-empty, ~10% NULL as nullable
    assert query(address, db, 'SELECT min("Mixed Case"), max("Mixed Case"), count(during) > 200, '
                              'count(DISTINCT moods) > 1, bool_and(NOT isempty(during)) FROM "Odd Things"') \
        == [(5, 9, True, True, True)]
    insert = ('INSERT INTO "Odd Things" ("Mixed Case", duration, opens_at, address, device, payload, position, '
              "flags, balance, ratio, moods, summary, settings, initial) VALUES (5, '1 day', '10:00', '10.0.0.1', "
              "'08:00:2b:01:02:03', '', '(0,0)', B'00000000', 1, 1, '{}', '', '{}', 'x') RETURNING \"Id\"")
    assert scalar(address, db, insert) == 301  # the identity was moved past the ids devshell gave


def test_unique_over_a_small_domain_caps_the_table(address, schema_db) -> None:  # type: ignore[no-untyped-def]
    db = schema_db("impossible")
    done = run_devshell("populate", "-d", db, "--size", "10")
    assert done.returncode == 0, done.stderr
    assert "badge gets 5 rows, not 10: its unique (level) allows only 5 distinct values" in done.stdout
    assert counts(address, db, ["note", "badge"]) == {"note": 10, "badge": 5}
    assert scalar(address, db, "SELECT count(DISTINCT level) FROM badge") == 5


def test_unreadable_check_that_never_holds_is_a_clear_error(address, new_db) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect

    conn = connect(address, new_db)
    with conn, conn.cursor() as cr:
        cr.execute("CREATE TABLE shout (id serial PRIMARY KEY, word text NOT NULL CHECK (upper(word) = word))")
        cr.execute("CREATE TABLE calm (id serial PRIMARY KEY, word text NOT NULL)")
    conn.close()
    with pytest.raises(DevshellError, match=r"table shout: could not generate rows .*shout_word_check"):
        populate(new_db, "small", seed=1, quiet=True)
    assert counts(address, new_db, ["shout", "calm"]) == {"shout": 0, "calm": 0}


def test_dry_run_prints_the_plan_and_writes_nothing(address, pagila_db) -> None:  # type: ignore[no-untyped-def]
    done = run_devshell("populate", "-d", pagila_db, "--size", "medium", "--seed", "4", "--dry-run")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "plan: 15 tables, 1500 rows, size medium, seed 4" in out
    assert "order: actor → category" in out and "→ payment" in out
    assert "payment_date: inside 7 partitions" in out
    assert "email: faker email" in out and "last_update: left to the database (default now())" in out
    assert counts(address, pagila_db, PAGILA_TABLES) == dict.fromkeys(PAGILA_TABLES, 0)
    assert scalar(address, pagila_db, "SELECT to_regclass('devshell_populate') IS NULL")

    import devshell
    import devshell.populate.planner  # noqa: F401 - importing the package must not hide the function

    planned = devshell.populate(pagila_db, "large", seed=4, dry_run=True, quiet=True)
    assert planned.dry_run and planned.plan.total_rows == 15000 and planned.total == 0
    assert counts(address, pagila_db, ["film"]) == {"film": 0}


def test_progress_on_a_terminal(address, new_db) -> None:  # type: ignore[no-untyped-def]
    import pexpect

    from devshell.db.connection import connect

    conn = connect(address, new_db)
    with conn, conn.cursor() as cr:
        cr.execute("CREATE TABLE visit (id serial PRIMARY KEY, email text NOT NULL, at timestamptz NOT NULL)")
    conn.close()
    child = pexpect.spawn(sys.executable, ["-m", "devshell", "populate", "-d", new_db, "--size", "20000"],
                          env=dict(os.environ, TERM="xterm"), encoding="utf-8", dimensions=(30, 120), timeout=60)
    child.expect("rows/s")  # the live bar
    child.expect("seed")  # the summary table's title
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert counts(address, new_db, ["visit"]) == {"visit": 20000}


def test_killed_run_leaves_no_row_behind(address, new_db) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect

    conn = connect(address, new_db)
    with conn, conn.cursor() as cr:
        cr.execute("CREATE TABLE big (id serial PRIMARY KEY, full_name text NOT NULL, email text NOT NULL, "
                   "created_at timestamptz NOT NULL, amount numeric(10, 2) NOT NULL, status text NOT NULL)")
        cr.execute("CREATE TABLE small (id serial PRIMARY KEY, name text NOT NULL)")
    conn.close()
    with subprocess.Popen([sys.executable, "-m", "devshell", "populate", "-d", new_db, "--size", "200000"],
                          stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=dict(os.environ)) as child:
        try:
            read_stderr_until(child, "loading big")
            wait_for_statement(address, new_db, 'COPY "public"."big"', child)  # inside the COPY of 200,000 rows
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
    assert counts(address, new_db, ["big", "small"]) == {"big": 0, "small": 0}
    assert scalar(address, new_db, "SELECT to_regclass('devshell_populate') IS NULL")


def test_module_factories_and_counts_are_used(address, new_db) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect
    from devshell.modules import install_modules

    addons = FIXTURES / "populate_addons"
    config = load_config(overrides={"addons_path": [str(addons)]})
    conn = connect(address, new_db)
    try:
        install_modules(conn, ["pop_shop"], addons_path=[str(addons)], config=config)
    finally:
        conn.close()
    result = populate(new_db, "small", seed=2, quiet=True, config=config)

    # the manifest's counts (pop_line: 3 per item); devshell_* tables skipped
    assert result.rows == {"pop_item": 7, "pop_member": 4, "pop_line": 21}
    assert [code for (code,) in query(address, new_db, "SELECT code FROM pop_item ORDER BY id")] == \
        [f"ITEM-{index:04d}" for index in range(7)]
    assert [status for (status,) in query(address, new_db, "SELECT status FROM pop_member ORDER BY id")] == \
        ["regular", "vip", "regular", "vip"]
    assert scalar(address, new_db, "SELECT bool_and(extract(day FROM joined_on) = 1) FROM pop_member")
    labels = {(s.columns, s.generator.label) for t in result.plan.tables for s in t.slots}
    assert (("code",), "factory pop_shop.item_code") in labels


def test_cli_usage_errors_are_one_line_exit_2(pagila_db) -> None:  # type: ignore[no-untyped-def]
    unknown = run_devshell("populate", "-d", pagila_db, "--tables", "film,nope")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert "no table 'nope'" in unknown.stderr
    size = run_devshell("populate", "-d", pagila_db, "--size", "huge")
    assert size.returncode == 2 and size.stderr.count("\n") == 1
    assert "invalid size 'huge'" in size.stderr
    with pytest.raises(UsageError, match="unknown locale"):
        populate(pagila_db, "small", locale="xx_YY", quiet=True)


@pytest.mark.parametrize("definition, expected", [
    ("CHECK (((qty >= 1) AND (qty <= 10)))", {"qty": (1, 10)}),
    ("CHECK ((price > (0)::numeric))", {"price": (1, None)}),
    ("CHECK ((n < '-5'::integer))", {"n": (None, -6)}),
    ("CHECK (((status)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))",
     {"status": ["a", "b"]}),
    ("CHECK (((st = 'x'::text) OR (st = 'y'::text)))", {"st": ["x", "y"]}),
    ("CHECK ((length((code)::text) = 3))", {"code": "3..3"}),
    ("CHECK ((ends >= starts))", {"comparison": ("ends", ">=", "starts")}),
])
def test_check_expressions_are_read(definition: str, expected: dict[str, Any]) -> None:
    from devshell.populate.constraints import Rules, apply_check
    from devshell.populate.sqltypes import value_type

    types = {"qty": value_type("integer"), "price": value_type("numeric", precision=6, scale=2),
             "n": value_type("integer"), "status": value_type("character varying", max_length=5),
             "st": value_type("text"), "code": value_type("character varying", max_length=9),
             "ends": value_type("date"), "starts": value_type("date")}
    rules = {name: Rules() for name in types}
    comparisons: list[Any] = []
    assert apply_check(definition, types, rules, comparisons)
    for name, want in expected.items():
        if name == "comparison":
            assert [(c.left, c.op, c.right) for c in comparisons] == [want]
        elif isinstance(want, tuple):
            assert (rules[name].low, rules[name].high) == want
        elif isinstance(want, list):
            assert rules[name].choices == want
        else:
            assert f"{rules[name].min_length}..{rules[name].max_length}" == want


def test_unknown_check_forms_stay_opaque() -> None:
    from devshell.populate.constraints import Rules, apply_check
    from devshell.populate.sqltypes import value_type

    types = {"w": value_type("text"), "n": value_type("integer")}
    for definition in ("CHECK ((upper(w) = w))", "CHECK (((n % 2) = 0))", "CHECK (((w IS NOT NULL) OR (n > 0)))"):
        assert not apply_check(definition, types, {name: Rules() for name in types}, [])
