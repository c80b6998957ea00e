"""The environment on Pagila and on small schemas: models, domains, records, transactions, bad input."""

from __future__ import annotations

import io
import logging
from decimal import Decimal
from typing import Callable, Iterator

import psycopg2.errors
import pytest

import devshell
from devshell.db.catalog import UnknownTableError
from devshell.db.connection import ServerAddress, connect as pg_connect
from devshell.errors import DevshellError, UsageError
from devshell.orm import Environment, Model, QueryError, Recordset, connect

PAGILA_MODELS = {"actor", "address", "category", "city", "country", "customer", "film", "film_actor",
                 "film_category", "inventory", "language", "payment", "rental", "staff", "store"}


@pytest.fixture
def env(pagila_db: str) -> Iterator[Environment]:
    with devshell.connect(pagila_db) as environment:
        yield environment


@pytest.fixture
def films(env: Environment) -> Recordset:
    """Two languages and five films (fulltext filled by Pagila's trigger)."""
    english, french = env.language.create([{"name": "English"}, {"name": "French"}])
    rows = [
        {"title": "Alpha Dog", "language_id": english.language_id, "length": 80, "rating": "G"},
        {"title": "Beta Test", "language_id": english.language_id, "length": 95, "rating": "PG",
         "description": "a 100% true story", "special_features": ["Trailers", "Commentaries"]},
        {"title": "Gamma Ray", "language_id": french.language_id, "length": 120, "rating": "R",
         "original_language_id": english.language_id},
        {"title": "Delta Blues", "language_id": french.language_id, "length": None, "rating": "PG",
         "release_year": 2006},
        {"title": "epsilon", "language_id": english.language_id, "length": 95, "rating": "NC-17"},
    ]
    return env.film.create(rows)


def titles(records: Recordset) -> list[str]:
    return [record.title for record in records]


# -- the environment ---------------------------------------------------------------------------
def test_every_pagila_table_is_a_model(env: Environment) -> None:
    assert set(env.registry.models) == PAGILA_MODELS
    film = env["film"]
    assert film is env.film and film.name == "film"
    assert list(film.columns)[:3] == ["film_id", "title", "description"] and film.fields is film.columns
    assert repr(film) == "<model film: 14 columns, primary key film_id>"
    assert {"film", "payment", "sql", "commit"} <= set(dir(env))
    assert env.registry.catalog.table("payment").is_partitioned
    assert env.registry.modules == {}
    assert repr(env) == f"<Environment db={env.db!r}>" and env.conn.closed == 0
    assert devshell.Environment is Environment and devshell.connect is connect


def test_unknown_tables_say_what_was_meant(env: Environment) -> None:
    with pytest.raises(UnknownTableError, match=r"no table 'flim' in this database \(did you mean 'film'\?\)"):
        env["flim"]
    with pytest.raises(KeyError):
        env["name; drop table film"]
    with pytest.raises(AttributeError, match=r"no table 'flim' \(did you mean 'film'\?\)"):
        env.flim  # noqa: B018
    assert not hasattr(env, "no_such_table")


def test_sql_rows_and_rowcounts(env: Environment, films: Recordset) -> None:
    rows = env.sql("SELECT title, length FROM film WHERE length > %s ORDER BY title", (90,))
    assert [(row.title, row.length) for row in rows] == [("Beta Test", 95), ("Gamma Ray", 120), ("epsilon", 95)]
    assert rows[0][0] == "Beta Test" and rows[0]._asdict() == {"title": "Beta Test", "length": 95}
    assert env.sql("SELECT 40 + 2, 1 AS a, 2 AS a")[0] == (42, 1, 2)  # odd names still give a row
    assert env.sql("UPDATE film SET length = length + 1 WHERE length = %(l)s", {"l": 95}) == 2


def test_connect_needs_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGDATABASE", raising=False)
    monkeypatch.delenv("DEVSHELL_DB_NAME", raising=False)
    with pytest.raises(UsageError, match=r"no database: pass a name or set db_name / PGDATABASE"):
        connect()


def test_connect_reads_the_configured_database(pagila_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGDATABASE", pagila_db)
    with connect() as env:
        assert env.db == pagila_db and env.film.search_count([]) == 0
    assert env.conn.closed


# -- transactions ------------------------------------------------------------------------------
def test_commit_is_visible_elsewhere_rollback_is_not(address: ServerAddress, env: Environment) -> None:
    env.category.create({"name": "Kept"})
    env.commit()
    env.category.create({"name": "Dropped"})
    env.rollback()
    env.category.create({"name": "Closed"})
    env.close()  # closing does not commit
    conn = pg_connect(address, env.db)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT name FROM category ORDER BY name")
            assert cr.fetchall() == [("Kept",)]
    finally:
        conn.close()


def test_savepoint_rolls_back_only_its_block(env: Environment, films: Recordset) -> None:
    with env.savepoint():
        env.film.search([("title", "=", "Alpha Dog")]).write({"length": 81})
    with pytest.raises(ZeroDivisionError):
        with env.savepoint():
            films.unlink()
            assert env.film.search_count() == 0
            1 / 0
    assert env.film.search_count() == 5
    assert env.film.search([("title", "=", "Alpha Dog")]).length == 81


def test_pending_writes_count_data_changing_statements(env: Environment) -> None:
    assert env.pending_writes == 0
    env.language.search([])
    env.sql("SELECT 1")
    assert env.pending_writes == 0
    env.language.create([{"name": "A"}, {"name": "B"}])
    assert env.pending_writes == 1  # one statement for the whole list
    env.sql("UPDATE language SET name = 'C' WHERE false")
    assert env.pending_writes == 1  # nothing changed
    env.language.search([]).write({"name": "Z"})
    env.sql("CREATE TABLE scratch (x int)")
    assert env.pending_writes == 3
    with pytest.raises(KeyError):
        with env.savepoint():
            env.sql("INSERT INTO scratch VALUES (1)")
            assert env.pending_writes == 4
            raise KeyError("undo")
    assert env.pending_writes == 3
    env.cr.executemany("INSERT INTO scratch VALUES (%s)", [(1,), (2,)])
    env.cr.copy_expert("COPY scratch FROM STDIN", io.StringIO("3\n4\n"))
    env.cr.copy_expert("COPY scratch TO STDOUT", io.StringIO())
    assert env.pending_writes == 5 and env.sql("SELECT count(*) FROM scratch")[0].count == 4
    env.commit()
    assert env.pending_writes == 0
    env.sql("DELETE FROM language")
    env.sql("ROLLBACK")
    assert env.pending_writes == 0 and env.language.search_count() == 2


def test_statements_are_logged_with_their_duration(env: Environment, caplog: pytest.LogCaptureFixture) -> None:
    language = env.language  # reflected before the log is read
    with caplog.at_level(logging.DEBUG, logger="devshell.sql"):
        language.search_count([("name", "=", "x")])
    message, = [record.getMessage() for record in caplog.records if record.name == "devshell.sql"]
    assert " ms  SELECT count(*) FROM \"public\".\"language\" WHERE (\"name\" = 'x')" in message
    caplog.clear()
    env.language.search_count()
    assert not caplog.records  # not logged unless asked


# -- models ------------------------------------------------------------------------------------
def test_create_one_and_many_in_one_statement(env: Environment, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="devshell.sql"):
        languages = env.language.create([{"name": "English"}, {"name": "Italian", "last_update": "2020-01-02"},
                                         {"name": "Greek"}])
    inserts = [r for r in caplog.records if r.name == "devshell.sql" and "INSERT" in r.getMessage()]
    assert len(inserts) == 1 and "DEFAULT" in inserts[0].getMessage()  # missing keys take the column default
    assert len(languages) == 3 and languages.ids == sorted(languages.ids)
    assert languages.mapped("name") == [name.ljust(20) for name in ("English", "Italian", "Greek")]  # char(20)
    assert [d.year for d in languages.mapped("last_update")][1] == 2020
    assert languages[0].last_update.year > 2020
    one = env.language.create({"name": "German"})
    assert len(one) == 1 and one.name.strip() == "German" and one.last_update is not None
    assert env.language.create([]) == env.language.browse([])


def test_film_created_without_fulltext_gets_it_from_the_trigger(env: Environment, films: Recordset) -> None:
    beta = films[1]
    assert "beta" in beta.fulltext and beta.special_features == ["Trailers", "Commentaries"]
    assert beta.rental_rate == Decimal("4.99") and beta.rating == "PG"
    assert films[3].release_year == 2006


def test_search_domains_each_operator(env: Environment, films: Recordset) -> None:
    def search(*domain: object) -> list[str]:
        return titles(env.film.search(list(domain), order="title"))

    assert search(("length", "=", 95)) == ["Beta Test", "epsilon"]
    assert search(("length", "!=", 95)) == ["Alpha Dog", "Delta Blues", "Gamma Ray"]  # NULL kept, like Odoo
    assert search(("length", "<>", 95)) == search(("length", "!=", 95))
    assert search(("length", "<", 95)) == ["Alpha Dog"]
    assert search(("length", "<=", 95)) == ["Alpha Dog", "Beta Test", "epsilon"]
    assert search(("length", ">", 95)) == ["Gamma Ray"]
    assert search(("length", ">=", 95)) == ["Beta Test", "Gamma Ray", "epsilon"]
    assert search(("length", "=", None)) == ["Delta Blues"]
    assert search(("length", "!=", None)) == ["Alpha Dog", "Beta Test", "Gamma Ray", "epsilon"]
    assert search(("rating", "in", ["G", "R"])) == ["Alpha Dog", "Gamma Ray"]
    assert search(("length", "in", [80, None])) == ["Alpha Dog", "Delta Blues"]
    assert search(("length", "in", [])) == []
    assert search(("length", "not in", [80, 95])) == ["Delta Blues", "Gamma Ray"]
    assert search(("length", "not in", [80, None])) == ["Beta Test", "Gamma Ray", "epsilon"]
    assert len(search(("length", "not in", []))) == 5
    assert search(("title", "like", "ta")) == ["Beta Test", "Delta Blues"]
    assert search(("title", "like", "ALPHA")) == []
    assert search(("title", "ilike", "ALPHA")) == ["Alpha Dog"]
    assert search(("title", "=like", "%y")) == ["Gamma Ray"]
    assert search(("title", "=like", "_eta%")) == ["Beta Test"]
    assert search(("title", "=ilike", "E%")) == ["epsilon"]
    assert search(("title", "not ilike", "a")) == ["epsilon"]
    assert search(("description", "like", "100%")) == ["Beta Test"]
    assert search(("length", "like", "12")) == ["Gamma Ray"]  # non-text columns compare as text
    assert search(("special_features", "=", ["Trailers", "Commentaries"])) == ["Beta Test"]
    assert search(("language_id", "=", films[0].language_id)) == ["Alpha Dog", "Beta Test", "epsilon"]
    assert search(("film_id", "in", films[:2])) == ["Alpha Dog", "Beta Test"]


def test_search_prefix_operators(env: Environment, films: Recordset) -> None:
    def search(*domain: object) -> list[str]:
        return titles(env.film.search(list(domain), order="title"))

    assert search(("length", ">", 80), ("rating", "=", "PG")) == ["Beta Test"]  # implicit &
    assert search("&", ("length", ">", 80), ("rating", "=", "PG")) == ["Beta Test"]
    assert search("|", ("length", "=", 80), ("rating", "=", "R")) == ["Alpha Dog", "Gamma Ray"]
    assert search("!", ("rating", "=", "PG")) == ["Alpha Dog", "Gamma Ray", "epsilon"]
    assert search("|", "!", ("length", ">", 90), "&", ("rating", "=", "PG"), ("length", "=", None)) == \
        ["Alpha Dog", "Delta Blues"]
    assert search("|", ("rating", "=", "G"), ("rating", "=", "R"), ("length", ">", 100)) == ["Gamma Ray"]
    assert search() == ["Alpha Dog", "Beta Test", "Delta Blues", "Gamma Ray", "epsilon"]


def test_search_through_foreign_keys(env: Environment, films: Recordset) -> None:
    found = env.film.search([("language_id.name", "=", "French")], order="title")
    assert titles(found) == ["Delta Blues", "Gamma Ray"]
    assert titles(env.film.search([("original_language_id.name", "ilike", "engl")])) == ["Gamma Ray"]
    with pytest.raises(QueryError, match=r"cannot follow 'title.x': film.title is not a single-column foreign key"):
        env.film.search([("title.x", "=", 1)])
    with pytest.raises(DevshellError, match=r"table 'language' has no column 'nam' \(did you mean 'name'\?\)"):
        env.film.search([("language_id.nam", "=", 1)])


def test_order_limit_offset_count(env: Environment, films: Recordset) -> None:
    assert titles(env.film.search([], order="length desc nulls last, title", limit=3)) == \
        ["Gamma Ray", "Beta Test", "epsilon"]
    assert titles(env.film.search([], order="length ASC NULLS FIRST, title DESC", limit=2, offset=1)) == \
        ["Alpha Dog", "epsilon"]
    assert env.film.search([]).ids == films.ids  # primary key order by default
    assert env.film.search_count([("length", ">", 90)]) == 3
    assert env.film.count() == 5 and env.film.count([("rating", "=", "PG")]) == 2


def test_read_browse_write_unlink(env: Environment, films: Recordset) -> None:
    rows = env.film.read([("length", "=", 95)], ["title"])
    assert rows == [{"film_id": films[1].film_id, "title": "Beta Test"},
                    {"film_id": films[4].film_id, "title": "epsilon"}]
    assert env.film.read(films.ids[:1], ["length"]) == [{"film_id": films.ids[0], "length": 80}]
    assert env.film.read(films.ids[0], ["title"])[0]["title"] == "Alpha Dog"
    assert len(env.film.read()) == 5 and "fulltext" in env.film.read()[0]
    browsed = env.film.browse(films.ids[1])
    assert browsed.title == "Beta Test" and env.film.browse(films.ids) == films
    assert films[3:].read(["rating"]) == [{"film_id": films.ids[3], "rating": "PG"},
                                          {"film_id": films.ids[4], "rating": "NC-17"}]
    films[:2].write({"length": 60, "special_features": ["Deleted Scenes"]})
    assert films.mapped("length") == [60, 60, 120, None, 95]
    assert films[0].special_features == ["Deleted Scenes"]
    films[4].length = 61
    assert env.film.browse(films.ids[4]).length == 61
    films[3:].unlink()
    assert env.film.search_count() == 3 and films.exists() == films[:3]
    with pytest.raises(QueryError, match=r"does not exist"):
        films[4].title  # noqa: B018


def test_records_and_recordsets(env: Environment, films: Recordset) -> None:
    assert len(films) == 5 and bool(films) and not env.film.browse([])
    assert repr(films) == f"film{tuple(films.ids)!r}" and repr(films[0]) == f"film({films.ids[0]},)"
    assert films[0] == env.film.browse(films.ids[0]) and films[0] != films[1]
    assert films[0].id == films.ids[0] and env.film.browse([]).id is None
    assert films.mapped("title")[:2] == ["Alpha Dog", "Beta Test"]
    assert titles(films.filtered(lambda f: (f.length or 0) > 90)) == ["Beta Test", "Gamma Ray", "epsilon"]
    assert titles(films.filtered("original_language_id")) == ["Gamma Ray"]
    assert films.mapped(lambda f: f.title[0]) == ["A", "B", "G", "D", "e"]
    assert (films[:2] | films[1:3]) == films[:3] and (films - films[:4]) == films[4:]
    assert {"title", "length", "write", "mapped"} <= set(dir(films[0]))
    with pytest.raises(QueryError, match=r"expected a single record, got film\("):
        films.title  # noqa: B018
    with pytest.raises(AttributeError, match=r"film has no column 'titel' \(did you mean 'title'\?\)"):
        films[0].titel  # noqa: B018
    assert env.film.browse([]).title is None


def test_foreign_keys_lead_to_records(env: Environment, films: Recordset,
                                      caplog: pytest.LogCaptureFixture) -> None:
    gamma = films[2]
    assert gamma.language_id.name.strip() == "French" and gamma.original_language_id.name.strip() == "English"
    assert films[0].original_language_id == env.language.browse([])
    assert films[0].original_language_id.name is None
    assert films.mapped("language_id.name") == ["English".ljust(20), "French".ljust(20)]
    assert films.mapped("language_id") == env.language.search([])
    fresh = env.film.search([], order="title")
    with caplog.at_level(logging.DEBUG, logger="devshell.sql"):
        names = [(film.title, film.language_id.name.strip()) for film in fresh]
    selects = [r.getMessage() for r in caplog.records if r.name == "devshell.sql"]
    assert len(selects) == 2  # one query for the films, one for their languages
    assert names[0] == ("Alpha Dog", "English")


def test_values_are_fetched_in_batches(env: Environment, films: Recordset, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("devshell.orm.recordsets.PREFETCH_BATCH", 2)
    fresh = env.film.search([])
    with caplog.at_level(logging.DEBUG, logger="devshell.sql"):
        assert titles(fresh) == titles(films)
        assert fresh[4].title == "epsilon" and fresh[1:3].mapped("length") == [95, 120]  # cached: no query
    assert len([r for r in caplog.records if r.name == "devshell.sql"]) == 3  # 5 films, 2 per query


def test_composite_primary_keys(env: Environment, films: Recordset) -> None:
    actors = env.actor.create([{"first_name": "Ann", "last_name": "Lee"}, {"first_name": "Bo", "last_name": "Ng"}])
    pairs = env.film_actor.create([{"actor_id": a.actor_id, "film_id": films.ids[0]} for a in actors])
    expected = [(a, films.ids[0]) for a in actors.ids]
    assert pairs.ids == expected
    one = env.film_actor.browse(expected[0])
    assert one.actor_id.first_name == "Ann" and one.film_id.title == "Alpha Dog"
    assert env.film_actor.browse(expected) == pairs and env.film_actor.browse([list(expected[1])]) == pairs[1]
    pairs[1].write({"film_id": films.ids[1]})
    assert env.film_actor.search([("film_id", "=", films.ids[1])]).ids == [(actors.ids[1], films.ids[1])]
    with pytest.raises(QueryError, match=r"composite primary key \(actor_id, film_id\)"):
        env.film_actor.browse(5)


def test_partitioned_payment_through_the_whole_chain(env: Environment, films: Recordset) -> None:
    country = env.country.create({"country": "Iceland"})
    city = env.city.create({"city": "Reykjavik", "country_id": country})
    address = env.address.create({"address": "1 Main St", "district": "Centre", "city_id": city, "phone": "1"})
    store = env.store.create({"manager_staff_id": 1, "address_id": address})
    staff = env.staff.create({"first_name": "Sam", "last_name": "Ray", "address_id": address,
                              "store_id": store, "username": "sam"})
    customer = env.customer.create({"store_id": store, "first_name": "Cy", "last_name": "Doe",
                                    "address_id": address})
    inventory = env.inventory.create({"film_id": films[0], "store_id": store})
    rental = env.rental.create({"rental_date": "2022-03-03", "inventory_id": inventory,
                                "customer_id": customer, "staff_id": staff})
    payments = env.payment.create([
        {"customer_id": customer, "staff_id": staff, "rental_id": rental, "amount": amount, "payment_date": day}
        for amount, day in ((Decimal("2.99"), "2022-03-04"), (Decimal("0.99"), "2022-07-31"))])
    assert [key[0].month for key in payments.ids] == [3, 7]  # (payment_date, payment_id)
    march = env.payment.search([("payment_date", "<", "2022-04-01")])
    assert march.amount == Decimal("2.99") and march.rental_id.inventory_id.film_id.title == "Alpha Dog"
    assert env.payment.search([("customer_id.address_id.city_id.country_id.country", "=", "Iceland")]) == payments
    assert env.sql("SELECT tableoid::regclass::text AS part FROM payment ORDER BY payment_date")[1].part == \
        "payment_p2022_07"
    with pytest.raises(psycopg2.errors.CheckViolation, match="no partition of relation"):
        with env.savepoint():
            payments[0].write({"payment_date": "2030-01-01"})
    assert env.payment.browse(payments.ids[0]).amount == Decimal("2.99")


# -- other schemas -----------------------------------------------------------------------------
@pytest.fixture
def odd_env(new_db: str) -> Iterator[Environment]:
    with devshell.connect(new_db) as environment:
        environment.sql("""
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE TABLE log (at timestamptz DEFAULT now(), message text, level int);
            CREATE TABLE doc (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), data jsonb, raw json,
                              moods mood[], tags text[] DEFAULT '{}', "Odd Name" text);
            CREATE SCHEMA sales;
            CREATE TABLE sales."order" (id serial PRIMARY KEY, doc_id uuid REFERENCES doc);
        """)
        environment.registry.reload()
        yield environment


def test_tables_without_primary_key(odd_env: Environment) -> None:
    created = odd_env.log.create([{"message": "one", "level": 1}, {"message": "two", "level": 2}])
    assert created.mapped("message") == ["one", "two"]
    found = odd_env.log.search([("level", ">", 1)])
    assert found.message == "two" and found.read(["level"]) == [{"level": 2}]
    assert odd_env.log.read([("level", "=", 1)], ["message"]) == [{"message": "one"}]
    assert repr(found) == "log(<1 rows without a primary key>)"
    for action in (lambda: odd_env.log.browse(1), lambda: found.write({"level": 3}), found.unlink,
                   lambda: found.ids):
        with pytest.raises(QueryError, match=r"the table has no primary key"):
            action()


def test_json_arrays_enums_and_other_schemas(odd_env: Environment) -> None:
    doc = odd_env.doc.create({"data": {"a": [1, 2]}, "raw": [1, "x"], "moods": ["sad", "happy"],
                              "Odd Name": "odd"})
    assert doc.data == {"a": [1, 2]} and doc.raw == [1, "x"] and doc.tags == []
    assert odd_env.doc.search([("data", "=", {"a": [1, 2]})]) == doc
    assert odd_env.doc.search([("Odd Name", "=", "odd")]) == doc
    assert odd_env.doc.search([("moods", "=", ["sad", "happy"])]) == doc
    doc.write({"moods": [], "tags": ["x"]})
    assert doc.tags == ["x"] and odd_env.sql("SELECT cardinality(moods) AS n FROM doc")[0].n == 0
    order = odd_env["sales.order"].create({"doc_id": doc})  # a record stands for its id
    assert order.doc_id == doc and odd_env["sales.order"].search([("doc_id.Odd Name", "=", "odd")]) == order
    assert "sales.order" in odd_env.registry.models and "order" not in dir(odd_env)


def test_registry_reload_sees_new_tables(odd_env: Environment) -> None:
    assert "later" not in odd_env.registry.models
    odd_env.sql("CREATE TABLE later (id int PRIMARY KEY)")
    with pytest.raises(UnknownTableError):
        odd_env["later"]
    odd_env.registry.reload()
    assert odd_env.later.create({"id": 7}).id == 7


# -- bad input ---------------------------------------------------------------------------------
INJECTION = "name; drop table film"


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.search([("titel", "=", "x")]), r"table 'film' has no column 'titel' \(did you mean 'title'\?\)"),
    (lambda m: m.search([(INJECTION, "=", "x")]), r"table 'film' has no column 'name; drop table film'"),
    (lambda m: m.search([("title", "~", "x")]), r"unknown operator '~' in \('title', '~', 'x'\): use one of ="),
    (lambda m: m.search([("title", "= 1 OR 1=1 --", "x")]), r"unknown operator"),
    (lambda m: m.search([("title", "=", ["a", "b"])]), r"operator '=' takes a single value, not a list "
                                                        r"\(use 'in' to match one of several values\)"),
    (lambda m: m.search([("length", ">", None)]), r"None can only be compared with '=' or '!='"),
    (lambda m: m.search([("length", "in", 5)]), r"operator 'in' takes a list of values, not int 5"),
    (lambda m: m.search([("title", "in", "abc")]), r"operator 'in' takes a list of values, not str"),
    (lambda m: m.search([("title", "ilike", 5)]), r"operator 'ilike' takes a string, not 5"),
    (lambda m: m.search([("title", "=")]), r"invalid domain term \('title', '='\)"),
    (lambda m: m.search(["|", ("title", "=", "x")]), r"ends early"),
    (lambda m: m.search("title = 'x'"), r"a domain is a list of \(field, operator, value\) terms"),
    (lambda m: m.search(("title", "=", "x")), r"write \[\('title', '=', 'x'\)\], not \('title', '=', 'x'\)"),
    (lambda m: m.search([], order="titel"), r"invalid order 'titel': table 'film' has no column 'titel'"),
    (lambda m: m.search([], order="title sideways"), r"unexpected 'sideways' after 'title'"),
    (lambda m: m.search([], order=INJECTION), r"has no column 'name;'"),
    (lambda m: m.search([], order="title desc; drop table film"), r"unexpected 'desc; drop table film'"),
    (lambda m: m.search([], order="title,"), r"invalid order 'title,'"),
    (lambda m: m.search([], limit=-1), r"limit must be a whole number"),
    (lambda m: m.search([], offset="1; drop"), r"offset must be a whole number"),
    (lambda m: m.create({INJECTION: 1}), r"table 'film' has no column 'name; drop table film'"),
    (lambda m: m.create(["title"]), r"create\(\) takes a dict of column values"),
    (lambda m: m.read([], [INJECTION]), r"table 'film' has no column 'name; drop table film'"),
    (lambda m: m.read([], "title"), r"fields must be a list of column names"),
])
def test_bad_input_is_refused_before_any_sql(env: Environment, call: Callable[[Model], object], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        call(env.film)
    assert env.pending_writes == 0
    assert env.film.search_count() == 0  # the table is still there and the transaction is usable


def test_bad_writes(env: Environment, films: Recordset) -> None:
    with pytest.raises(QueryError, match=r"write\(\) takes a non-empty dict"):
        films.write({})
    with pytest.raises(QueryError, match=r"table 'film' has no column 'name; drop table film'"):
        films.write({INJECTION: 1})
    with pytest.raises(AttributeError, match=r"film has no column 'titl'"):
        films[0].titl = "x"
    with pytest.raises(QueryError, match=r"expected one record, got film\("):
        env.film.search([("film_id", "=", films)])
    assert env.film.search_count() == 5
