"""Populate like production: ``--like SOURCE`` (statistics only), declared distributions, ``--scale``."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Iterator

import pytest

from devshell.config import load_config
from devshell.populate import populate

from conftest import assert_one_line_error, execute, query, run_devshell, unique_name

SCHEMA = """
CREATE TABLE customer (id serial PRIMARY KEY, last_name text NOT NULL, email text UNIQUE, tier text NOT NULL)
  WITH (autovacuum_enabled = false);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customer, status text NOT NULL,
  amount numeric(10, 2), note text, placed date) WITH (autovacuum_enabled = false);
"""
# 100 customers, 20 orders each: a skewed status, a normal amount, 30 % NULL notes, personal last names
DATA = """
SELECT setseed(0.42);
INSERT INTO customer (last_name, email, tier)
SELECT (ARRAY['Okafor', 'Lindqvist', 'Tanaka', 'Moreau', 'Okafor', 'Okafor', 'Tanaka', 'Brennan'])[1 + i % 8],
       'cust' || i || '@secret.example', CASE WHEN i % 5 = 0 THEN 'gold' ELSE 'basic' END
  FROM generate_series(1, 100) i;
INSERT INTO orders (customer_id, status, amount, note, placed)
SELECT 1 + i % 100,
       CASE WHEN r < 0.55 THEN 'new' WHEN r < 0.80 THEN 'paid' WHEN r < 0.95 THEN 'shipped' ELSE 'void' END,
       round((100 + 15 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::numeric, 2),
       CASE WHEN i % 10 < 3 THEN NULL ELSE 'order note number ' || i END,
       date '2023-01-01' + i % 365
  FROM (SELECT i, random() AS r FROM generate_series(1, 2000) i) s;
"""
STATUS = "SELECT status, count(*)::float / sum(count(*)) OVER () FROM orders GROUP BY status"
QUARTILES = "SELECT percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY amount) FROM orders"


def _database(address: Any, sql: str) -> str:
    from devshell.db.admin import create_database

    name = unique_name("like")
    create_database(address, name)
    execute(address, name, sql)
    return name


@pytest.fixture(scope="module")
def source(address: Any) -> Iterator[str]:
    """The production-like database: known distributions, analysed."""
    from devshell.db.admin import drop_database

    name = _database(address, SCHEMA + DATA + "ANALYZE customer; ANALYZE orders;")
    yield name
    drop_database(address, name, missing_ok=True)


@pytest.fixture
def target(address: Any) -> Iterator[str]:
    """An empty copy of the source's schema."""
    from devshell.db.admin import drop_database

    name = _database(address, SCHEMA)
    yield name
    drop_database(address, name, missing_ok=True)


def _one(address: Any, db: str, sql: str) -> Any:
    return query(address, db, sql)[0][0]


def _values(address: Any, db: str, column: str) -> set[str]:
    return {value for (value,) in query(address, db, f"SELECT {column} FROM customer")}


def test_like_reproduces_the_shape_without_personal_values(address: Any, source: str, target: str) -> None:
    result = run_devshell("populate", "-d", target, "--like", source, "--seed", "5")
    assert result.returncode == 0, result.stderr

    customers, orders = _one(address, target, "SELECT count(*) FROM customer"), \
        _one(address, target, "SELECT count(*) FROM orders")
    assert abs(orders / customers - 20) <= 20 * 0.05
    nulls = {db: _one(address, db, "SELECT avg((note IS NULL)::int)::float FROM orders") for db in (source, target)}
    assert abs(nulls[target] - nulls[source]) <= 0.03
    wanted, made = dict(query(address, source, STATUS)), dict(query(address, target, STATUS))
    assert set(made) == set(wanted)  # a categorical column: its values are copied
    assert all(abs(made[status] - share) <= 0.05 for status, share in wanted.items()), (made, wanted)
    for expected, found in zip(_one(address, source, QUARTILES), _one(address, target, QUARTILES)):
        assert abs(found - expected) <= 0.1 * expected
    # personal columns: no value copied, but as few distinct names as the source has
    assert not _values(address, source, "last_name") & _values(address, target, "last_name")
    assert not _values(address, source, "email") & _values(address, target, "email")
    assert _one(address, target, "SELECT count(DISTINCT last_name) FROM customer") <= 8


def test_like_a_connection_string_scaled_copying_all_values(address: Any, source: str, target: str) -> None:
    conninfo = " ".join(f"{key}={value}" for key, value in address.connect_kwargs(source).items())
    result = run_devshell("populate", "-d", target, "--like", conninfo, "--scale", "0.5", "--like-values", "all",
                          "--seed", "5")
    assert result.returncode == 0, result.stderr
    assert query(address, target, "SELECT (SELECT count(*) FROM customer), count(*) FROM orders") == [(50, 1000)]
    assert _values(address, target, "last_name") <= _values(address, source, "last_name")  # --like-values all
    assert _one(address, source, "SELECT count(*) FROM orders") == 2000  # SOURCE is only read


def test_like_without_statistics_says_to_run_analyze(address: Any, target: str) -> None:
    from devshell.db.admin import drop_database

    bare = _database(address, SCHEMA + DATA)  # rows, never analysed
    try:
        line = assert_one_line_error(run_devshell("populate", "-d", target, "--like", bare), 1)
        assert "no statistics" in line and "run ANALYZE" in line
    finally:
        drop_database(address, bare, missing_ok=True)


SPEC = """
[customer]
count = 40
[customer.columns]
tier = { gold = 0.2, basic = 0.8 }
[orders]
per = "customer"
count = 50
[orders.columns]
amount = "normal(250, 40)"
note = { null = 0.5 }
placed = "uniform(2024-01-01, 2024-03-31)"
"""


def test_spec_file_declares_counts_and_distributions(address: Any, target: str, tmp_path: Path) -> None:
    spec = tmp_path / "shape.toml"
    spec.write_text(SPEC)
    result = populate(target, seed=4, spec=spec, quiet=True)
    assert result.rows == {"customer": 40, "orders": 2000}
    amounts = [float(value) for (value,) in query(address, target, "SELECT amount FROM orders")]
    assert abs(statistics.mean(amounts) - 250) <= 250 * 0.05
    assert abs(statistics.stdev(amounts) - 40) <= 40 * 0.05
    assert abs(_one(address, target, "SELECT avg((note IS NULL)::int)::float FROM orders") - 0.5) <= 0.05
    gold = _one(address, target, "SELECT avg((tier = 'gold')::int)::float FROM customer")
    assert 0.05 <= gold <= 0.4
    assert _one(address, target, "SELECT min(placed) >= '2024-01-01' AND max(placed) <= '2024-03-31' FROM orders")


def install_shape_module(address: Any, db: str, addons: Path, name: str, populate_key: dict[str, Any]) -> Any:
    """Install a module *name* with a ``reading`` table and the manifest's *populate_key*; its configuration."""
    from devshell.db.connection import connect
    from devshell.modules import install_modules

    module = addons / name
    (module / "data").mkdir(parents=True)
    (module / "data" / "schema.sql").write_text(
        "CREATE TABLE reading (id serial PRIMARY KEY, level integer NOT NULL, kind text NOT NULL);")
    (module / "__manifest__.py").write_text(repr({
        "name": name, "version": "1.0", "data": ["data/schema.sql"], "populate": populate_key}))
    config = load_config(overrides={"addons_path": [str(addons)]})
    conn = connect(address, db)
    try:
        install_modules(conn, [name], addons_path=[str(addons)], config=config)
    finally:
        conn.close()
    return config


def test_manifest_declares_distributions(address: Any, new_db: str, tmp_path: Path) -> None:
    config = install_shape_module(address, new_db, tmp_path / "addons", "shape_demo", {
        "reading": {"count": 3000, "columns": {"level": "normal(60, 12)", "kind": {"a": 0.7, "b": 0.3}}}})
    assert populate(new_db, seed=6, quiet=True, config=config).rows == {"reading": 3000}
    levels = [value for (value,) in query(address, new_db, "SELECT level FROM reading")]
    assert abs(statistics.mean(levels) - 60) <= 60 * 0.05
    assert abs(statistics.stdev(levels) - 12) <= 12 * 0.05
    assert abs(_one(address, new_db, "SELECT avg((kind = 'a')::int)::float FROM reading") - 0.7) <= 0.05


def test_bad_manifest_declaration_is_one_line_naming_module_table_and_column(address: Any, new_db: str,
                                                                              tmp_path: Path) -> None:
    from devshell.errors import UsageError

    config = install_shape_module(address, new_db, tmp_path / "addons", "bad_shape",
                                  {"reading": {"count": 10, "columns": {"level": "normal(60)"}}})
    with pytest.raises(UsageError) as caught:
        populate(new_db, seed=6, quiet=True, config=config)
    message = str(caught.value)
    assert message.startswith("module 'bad_shape': 'populate' ") and "reading" in message and "level" in message
    assert "\n" not in message
    assert query(address, new_db, "SELECT count(*) FROM reading") == [(0,)]


def test_scale_adds_rows_referencing_existing_ones(address: Any, target: str) -> None:
    execute(address, target, """
        INSERT INTO customer (last_name, email, tier) SELECT 'Doe', 'c' || i || '@x.example', 'basic'
          FROM generate_series(1, 20) i;
        INSERT INTO orders (customer_id, status) SELECT 1 + i % 20, 'new' FROM generate_series(1, 400) i;""")
    result = run_devshell("populate", "-d", target, "--scale", "2", "--seed", "8")
    assert result.returncode == 0, result.stderr
    assert query(address, target, "SELECT (SELECT count(*) FROM customer), count(*) FROM orders") == [(60, 1200)]
    # the new orders reference old and new customers; the existing emails stayed unique
    assert _one(address, target, "SELECT count(*) FROM orders WHERE id > 400 AND customer_id <= 20") > 0
    assert _one(address, target, "SELECT count(*) FROM orders WHERE customer_id > 20") > 0
    assert _one(address, target, "SELECT count(DISTINCT email) FROM customer") == 60


@pytest.mark.parametrize("text, expected", [
    ('{"orders": {"columns": {"amount": "normal(5)"}}}', "table orders, column amount: normal needs two values"),
    ('{"orders": {"columns": {"status": "normal(5, 1)"}}}', "column status: normal(mean, std) needs a number"),
    ('{"orders": {"columns": {"amont": "uniform(1, 5)"}}}', "orders has no column 'amont' (did you mean 'amount'?)"),
    ('{"orders": {"columns": {"status": {"null": 0.2}}}}', "column status: declared 20% NULL, but the column is NOT"),
    ('{"orders": {"columns": {"note": {"faker": "nosuch"}}}}', "column note: Faker has no provider 'nosuch'"),
    ('{"orders": {"cnt": 3}}', "table orders: unknown key 'cnt'"),
])
def test_bad_spec_is_one_line(target: str, tmp_path: Path, text: str, expected: str) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(text)
    line = assert_one_line_error(run_devshell("populate", "-d", target, "--spec", str(spec)), 2)
    assert expected in line, line
