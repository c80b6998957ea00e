"""Populate without hints looks like production (issue 18, item 3): every realism case of the issue.

One schema holds a table per case (names as public schemas write them: run together,
camelCase, Odoo's ``state`` and translatable jsonb names); one run of the real CLI
fills it, and each test asserts on the rows it wrote.
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest

from conftest import query, run_devshell, unique_name

SCHEMA = """
CREATE TABLE employee (id serial PRIMARY KEY, name text NOT NULL, birth_date timestamp NOT NULL,
    hire_date timestamptz NOT NULL, "BirthDate" timestamp);
CREATE TABLE sale_order (id serial PRIMARY KEY, name varchar NOT NULL, state varchar NOT NULL,
    status text NOT NULL, type varchar NOT NULL, display_type varchar, move_type varchar NOT NULL);
CREATE TABLE address (id serial PRIMARY KEY, street text NOT NULL, city text NOT NULL, state text NOT NULL);
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar NOT NULL, tz varchar NOT NULL,
    lang varchar NOT NULL, "position" integer NOT NULL, rank_position varchar NOT NULL, currency char(3) NOT NULL);
CREATE TABLE res_currency (id serial PRIMARY KEY, name varchar NOT NULL, decimal_places integer NOT NULL);
CREATE TABLE film (id serial PRIMARY KEY, title varchar(30) NOT NULL,
    rental_rate numeric(4,2) NOT NULL DEFAULT 4.99, replacement_cost numeric(5,2) NOT NULL DEFAULT 19.99,
    length smallint NOT NULL DEFAULT 0 CHECK (length >= 0),
    stock integer NOT NULL CHECK (stock >= 0), rating smallint NOT NULL CHECK (rating BETWEEN 0 AND 10),
    "Milliseconds" integer NOT NULL, "UnitPrice" numeric(10,2) NOT NULL);
CREATE TABLE res_country (id serial PRIMARY KEY, name jsonb NOT NULL, description jsonb);
CREATE TABLE ticket (id serial PRIMARY KEY, passengername text NOT NULL, phonenumber varchar(40) NOT NULL,
    jobtitle text NOT NULL, composer text NOT NULL);
CREATE TABLE translated (id serial PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO translated (payload) VALUES ('{"en_US": "Blue", "fr_FR": "Bleu"}');
"""


@pytest.fixture(scope="module")
def db(address) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The realism schema, filled once by ``devshell populate --size medium``."""
    from devshell.db.admin import create_database, drop_database
    from devshell.db.connection import connect

    name = unique_name("realism")
    create_database(address, name)
    conn = connect(address, name)
    with conn, conn.cursor() as cr:
        cr.execute(SCHEMA)
    conn.close()
    done = run_devshell("populate", "-d", name, "--size", "medium", "--seed", "5", timeout=600)
    assert done.returncode == 0, done.stderr
    yield name
    drop_database(address, name, missing_ok=True)


def rows(address, db: str, sql: str) -> list:  # type: ignore[no-untyped-def]
    return [row[0] if len(row) == 1 else row for row in query(address, db, sql)]


def test_a_birth_timestamp_is_a_birth_date_and_hiring_follows_it(address, db) -> None:  # type: ignore[no-untyped-def]
    years = rows(address, db, 'SELECT extract(year FROM birth_date)::int FROM employee UNION ALL '
                              'SELECT extract(year FROM "BirthDate")::int FROM employee WHERE "BirthDate" IS NOT NULL')
    assert len(years) > 150 and min(years) >= 1940 and max(years) <= 2005
    assert rows(address, db, "SELECT count(*) FROM employee WHERE hire_date::timestamp <= birth_date") == [0]


def test_state_and_type_columns_get_short_lowercase_codes(address, db) -> None:  # type: ignore[no-untyped-def]
    for column in ("state", "status", "type", "display_type", "move_type"):
        values = rows(address, db, f"SELECT DISTINCT {column} FROM sale_order WHERE {column} IS NOT NULL")
        assert 2 <= len(values) <= 6, (column, values)
        assert all(re.fullmatch(r"[a-z]{2,10}", value) for value in values), (column, values)


def test_a_state_in_an_address_is_a_region(address, db) -> None:  # type: ignore[no-untyped-def]
    values = rows(address, db, "SELECT DISTINCT state FROM address")
    assert len(values) > 20
    assert not {"draft", "open", "done"} & set(values)


def test_time_zones_locales_positions_and_currencies(address, db) -> None:  # type: ignore[no-untyped-def]
    unknown = rows(address, db, "SELECT count(*) FROM res_partner WHERE tz NOT IN (SELECT name FROM pg_timezone_names)")
    assert unknown == [0]
    assert len(rows(address, db, "SELECT DISTINCT tz FROM res_partner")) > 20
    langs = rows(address, db, "SELECT lang FROM res_partner")
    assert all(re.fullmatch(r"[a-z]{2}_[A-Z]{2}", lang) for lang in langs) and "en_US" in langs
    assert rows(address, db, 'SELECT min("position") >= 1 AND max("position") <= 20 FROM res_partner') == [True]
    assert all(value.isdigit() and int(value) <= 20 for value in rows(address, db, "SELECT rank_position FROM res_partner"))
    assert all(re.fullmatch(r"[A-Z]{3}", value) for value in rows(address, db, "SELECT currency FROM res_partner"))
    assert rows(address, db, "SELECT min(decimal_places) >= 0 AND max(decimal_places) <= 4 FROM res_currency") == [True]


def test_a_numeric_default_is_the_centre_of_the_values(address, db) -> None:  # type: ignore[no-untyped-def]
    for column, default in (("rental_rate", 4.99), ("replacement_cost", 19.99)):
        values = [float(v) for v in rows(address, db, f"SELECT {column} FROM film ORDER BY {column}")]
        assert values.count(default) >= 15, (column, values)
        assert default / 2 <= values[len(values) // 2] <= default * 2, (column, values)
        assert default / 5 <= values[0] and values[-1] <= default * 5, (column, values)
    lengths = rows(address, db, "SELECT length FROM film")
    assert lengths.count(0) >= 15 and max(lengths) > 10  # a zero default: zeros, and the usual lengths


def test_windows_include_every_value_the_check_allows(address, db) -> None:  # type: ignore[no-untyped-def]
    assert rows(address, db, "SELECT min(stock) FROM film") == [0]
    ratings = rows(address, db, "SELECT DISTINCT rating FROM film")
    assert min(ratings) == 0 and max(ratings) == 10 and len(ratings) == 11
    millis = rows(address, db, 'SELECT min("Milliseconds"), max("Milliseconds") FROM film')[0]
    assert millis[0] >= 30_000 and millis[1] <= 480_000
    prices = sorted(float(v) for v in rows(address, db, 'SELECT "UnitPrice" FROM film'))
    assert prices[0] >= 0.99 and prices[len(prices) // 2] < 100  # cheap more often than dear


def test_titles_are_cut_after_a_whole_word(address, db) -> None:  # type: ignore[no-untyped-def]
    words = _faker_words()
    titles = rows(address, db, "SELECT title FROM film")
    assert max(map(len, titles)) <= 30 and any(len(title) > 20 for title in titles)
    for title in titles:
        assert all(word.lower() in words for word in title.split(" ")), title


def _faker_words() -> set[str]:
    from faker import Faker

    for provider in Faker("en_US").factories[0].get_providers():
        if hasattr(provider, "word_list"):
            return {word.lower() for word in provider.word_list}
    raise AssertionError("Faker has no word list")


def test_translatable_jsonb_holds_one_text_per_locale(address, db) -> None:  # type: ignore[no-untyped-def]
    from faker import Faker

    names = rows(address, db, "SELECT name FROM res_country")
    assert all(set(name) == {"en_US"} for name in names)
    fake = Faker("en_US")
    fake.seed_instance(1)
    countries = {fake.country() for _ in range(3000)}
    assert all(name["en_US"] in countries for name in names), names[:3]
    assert all(set(d) == {"en_US"} and d["en_US"] for d in rows(address, db, "SELECT description FROM res_country "
                                                                "WHERE description IS NOT NULL"))
    # a column whose existing rows hold translations gets the same locales
    payloads = rows(address, db, "SELECT payload FROM translated WHERE id > 1")
    assert len(payloads) == 100 and all(set(p) == {"en_US", "fr_FR"} for p in payloads)


def test_names_run_together_are_split_before_matching(address, db) -> None:  # type: ignore[no-untyped-def]
    from faker import Faker

    fake = Faker("en_US")
    jobs = set()
    for provider in fake.factories[0].get_providers():
        jobs.update(getattr(provider, "jobs", ()))
    for passenger, phone, job, composer in rows(address, db, "SELECT passengername, phonenumber, jobtitle, "
                                                             "composer FROM ticket"):
        for person in (passenger, composer):
            assert re.fullmatch(r"[A-Z][\w'.-]+( [A-Z][\w'.-]+)+", person), person
        assert len(re.findall(r"\d", phone)) >= 7, phone
        assert job in jobs, job
