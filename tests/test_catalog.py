"""Catalog reflection: the Pagila schema exactly, the corners of PostgreSQL's catalog, and its speed."""

from __future__ import annotations

import time
from typing import Any, Iterator

import psycopg2.extensions
import pytest

from devshell.db.catalog import Catalog, UnknownTableError, reflect
from devshell.db.connection import connect
from devshell.errors import DevshellError

PAGILA_TABLES = {"actor", "address", "category", "city", "country", "customer", "film", "film_actor",
                 "film_category", "inventory", "language", "payment", "rental", "staff", "store"}


@pytest.fixture
def cursor(address, new_db) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A cursor on a fresh empty database (DDL in it is not committed)."""
    conn = connect(address, new_db)
    try:
        yield conn.cursor()
    finally:
        conn.close()


@pytest.fixture
def pagila(address, pagila_db) -> Catalog:  # type: ignore[no-untyped-def]
    conn = connect(address, pagila_db)
    try:
        return reflect(conn.cursor())
    finally:
        conn.close()


def test_pagila_tables_partitions_are_not_tables(pagila: Catalog) -> None:
    assert set(pagila.tables) == PAGILA_TABLES
    assert not any(name.startswith("payment_p") for name in pagila.tables)
    assert pagila.search_schema == "public"
    assert pagila.table("public.film") is pagila.table("film")
    assert pagila.table("film").qualified_name == "public.film"


def test_pagila_film_columns(pagila: Catalog) -> None:
    film = pagila.table("film")
    assert list(film.columns) == ["film_id", "title", "description", "release_year", "language_id",
                                  "original_language_id", "rental_duration", "rental_rate", "length",
                                  "replacement_cost", "rating", "last_update", "special_features", "fulltext"]
    assert [c.position for c in film.columns.values()] == list(range(1, 15))
    assert film.primary_key == ("film_id",)
    assert film.kind == "r" and not film.is_partitioned and film.partitions == ()
    film_id = film.columns["film_id"]
    assert film_id.default == "nextval('film_film_id_seq'::regclass)" and not film_id.nullable
    assert not film_id.required
    rate = film.columns["rental_rate"]
    assert (rate.type, rate.numeric_precision, rate.numeric_scale, rate.default) == ("numeric(4,2)", 4, 2, "4.99")
    year = film.columns["release_year"]
    assert (year.type, year.base_type, year.type_category, year.nullable) == ("year", "integer", "N", True)
    assert year.domain is not None and year.domain.name == "year" and not year.domain.not_null
    assert [c.expression for c in year.domain.checks] == ["CHECK (((VALUE >= 1901) AND (VALUE <= 2155)))"]
    rating = film.columns["rating"]
    assert rating.type_category == "E" and rating.enum_values == ("G", "PG", "PG-13", "R", "NC-17")
    features = film.columns["special_features"]
    assert (features.type, features.is_array, features.element_type, features.type_category) == \
        ("text[]", True, "text", "A")
    fulltext = film.columns["fulltext"]
    assert (fulltext.type, fulltext.nullable, fulltext.default, fulltext.required) == ("tsvector", False, None, True)
    assert not film.columns["title"].is_array and film.columns["title"].type_category == "S"


def test_pagila_keys(pagila: Catalog) -> None:
    film = pagila.table("film")
    language = {fk.columns: fk for fk in film.foreign_keys}
    fk = language[("language_id",)]
    assert (fk.name, fk.ref_schema, fk.ref_table, fk.ref_columns, fk.on_delete, fk.target) == \
        ("film_language_id_fkey", "public", "language", ("language_id",), "RESTRICT", "language")
    assert not fk.deferrable and not fk.initially_deferred and not fk.on_partitions
    assert film.foreign_key_of("original_language_id") is not None and film.foreign_key_of("title") is None
    assert pagila.table("rental").uniques == (("rental_date", "inventory_id", "customer_id"),)
    assert pagila.table("store").uniques == (("manager_staff_id",),)  # a unique index, not a constraint
    assert pagila.table("film_actor").primary_key == ("actor_id", "film_id")


def test_pagila_payment_is_partitioned(pagila: Catalog) -> None:
    payment = pagila.table("payment")
    assert payment.kind == "p" and payment.is_partitioned
    assert payment.partition_key == "RANGE (payment_date)"
    assert payment.primary_key == ("payment_date", "payment_id")
    assert [p.name for p in payment.partitions] == [f"public.payment_p2022_0{m}" for m in range(1, 8)]
    assert payment.partitions[0].bound == \
        "FOR VALUES FROM ('2022-01-01 00:00:00+00') TO ('2022-02-01 00:00:00+00')"
    assert all(p.bound.startswith("FOR VALUES FROM (") for p in payment.partitions)
    # Pagila declares its foreign keys on the partitions only: the parent shows each once
    targets = sorted((fk.columns, fk.target, fk.on_partitions) for fk in payment.foreign_keys)
    assert targets == [(("customer_id",), "customer", True), (("rental_id",), "rental", True),
                       (("staff_id",), "staff", True)]


def test_pagila_enums_and_domains(pagila: Catalog) -> None:
    assert pagila.enums == {"mpaa_rating": ("G", "PG", "PG-13", "R", "NC-17")}
    assert set(pagila.domains) == {"year", "bıgınt"}
    assert pagila.domains["bıgınt"].base_type == "bigint"
    assert pagila.domains["year"].checks[0].name == "year_check"


def test_unknown_table_hints(pagila: Catalog) -> None:
    with pytest.raises(UnknownTableError, match=r"no table 'flim' in this database \(did you mean 'film'\?\)"):
        pagila.table("flim")
    with pytest.raises(KeyError):
        pagila.table("name; drop table film")
    with pytest.raises(DevshellError) as caught:
        pagila.table("film").column("titel")
    assert str(caught.value) == "table 'film' has no column 'titel' (did you mean 'title'?)"


def test_corners_of_the_catalog(cursor: Any) -> None:
    cursor.execute("""
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
        CREATE DOMAIN small_positive AS positive NOT NULL DEFAULT 1 CHECK (VALUE < 100);
        CREATE DOMAIN code AS varchar(8);
        CREATE SCHEMA sales;
        CREATE TABLE sales.region (country char(2), code text, name varchar(255) NOT NULL,
                                   PRIMARY KEY (country, code));
        COMMENT ON TABLE sales.region IS 'where we sell';
        CREATE TABLE shop (
            id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            dropped text,
            country char(2), region text,
            price numeric(10, 3) CHECK (price >= 0),
            discount numeric CHECK (discount < price),
            quantity small_positive,
            sku code UNIQUE,
            moods mood[],
            tags varchar(20)[],
            flags bit(3),
            doubled integer GENERATED ALWAYS AS (quantity * 2) STORED,
            data jsonb,
            FOREIGN KEY (country, region) REFERENCES sales.region (country, code)
                ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
        );
        ALTER TABLE shop DROP COLUMN dropped;
        CREATE UNIQUE INDEX shop_lower_sku ON shop (lower(sku));
        CREATE UNIQUE INDEX shop_partial ON shop (region) WHERE region IS NOT NULL;
        CREATE UNIQUE INDEX shop_country_region ON shop (country, region) INCLUDE (price);
        CREATE TABLE event (at date NOT NULL, kind text, shop_id integer REFERENCES shop)
            PARTITION BY LIST (kind);
        CREATE TABLE event_a PARTITION OF event FOR VALUES IN ('a', 'b');
        CREATE TABLE event_other PARTITION OF event DEFAULT;
        CREATE TABLE ticket (event_at date, note text);
        CREATE TABLE shop_ref (shop_id integer REFERENCES shop ON DELETE SET NULL);
    """)
    catalog = reflect(cursor)
    assert set(catalog.tables) == {"sales.region", "shop", "event", "ticket", "shop_ref"}
    region = catalog.table("sales.region")
    assert (region.schema, region.name, region.comment, region.primary_key) == \
        ("sales", "region", "where we sell", ("country", "code"))
    assert region.columns["name"].max_length == 255 and region.columns["country"].max_length == 2

    shop = catalog.table("shop")
    assert list(shop.columns) == ["id", "country", "region", "price", "discount", "quantity", "sku", "moods",
                                  "tags", "flags", "doubled", "data"]
    assert shop.columns["id"].is_identity and not shop.columns["id"].required
    doubled = shop.columns["doubled"]
    assert doubled.is_generated and doubled.default is None
    fk, = shop.foreign_keys
    assert (fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns, fk.target) == \
        (("country", "region"), "sales", "region", ("country", "code"), "sales.region")
    assert (fk.on_delete, fk.deferrable, fk.initially_deferred) == ("CASCADE", True, True)
    assert shop.foreign_key_of("country") is None  # composite keys are not single-column ones
    assert shop.uniques == (("sku",), ("country", "region"))  # no expression, partial or INCLUDE column
    checks = {check.name: check for check in shop.checks}
    assert checks["shop_check"].columns == ("discount", "price")
    assert checks["shop_price_check"].expression == "CHECK ((price >= (0)::numeric))"

    quantity = shop.columns["quantity"]
    assert (quantity.type, quantity.base_type, quantity.nullable) == ("small_positive", "integer", False)
    assert quantity.domain is not None and quantity.domain.not_null and quantity.domain.default == "1"
    assert [c.expression for c in quantity.domain.checks] == ["CHECK (((VALUE)::integer < 100))",
                                                         "CHECK ((VALUE > 0))"]
    assert not quantity.required  # the domain's default fills it
    sku = shop.columns["sku"]
    assert (sku.type, sku.base_type, sku.max_length, sku.type_category) == ("code", "character varying(8)", 8, "S")
    moods = shop.columns["moods"]
    assert (moods.is_array, moods.element_type, moods.enum_values) == (True, "mood", ("sad", "ok", "happy"))
    tags = shop.columns["tags"]
    assert (tags.type, tags.element_type, tags.max_length) == ("character varying(20)[]", "character varying", 20)
    assert shop.columns["flags"].max_length == 3
    assert shop.columns["price"].numeric_precision == 10 and shop.columns["price"].numeric_scale == 3
    assert shop.columns["discount"].numeric_precision is None
    assert shop.columns["data"].base_type == "jsonb"

    event = catalog.table("event")
    assert event.partition_key == "LIST (kind)"
    assert [(p.name, p.bound) for p in event.partitions] == [("public.event_a", "FOR VALUES IN ('a', 'b')"),
                                                            ("public.event_other", "DEFAULT")]
    fk, = event.foreign_keys  # declared on the parent: not repeated from the partitions
    assert fk.target == "shop" and not fk.on_partitions
    assert catalog.table("ticket").primary_key == () and catalog.table("ticket").foreign_keys == ()
    assert catalog.table("shop_ref").foreign_keys[0].on_delete == "SET NULL"
    assert catalog.enums == {"mood": ("sad", "ok", "happy")}
    assert set(catalog.domains) == {"positive", "small_positive", "code"}

    only_sales = reflect(cursor, ["sales"])
    assert set(only_sales.tables) == {"sales.region"}


def test_search_path_decides_bare_names(cursor: Any) -> None:
    cursor.execute("CREATE SCHEMA app; CREATE TABLE app.thing (id int PRIMARY KEY);"
                   "CREATE TABLE other (id int PRIMARY KEY, thing_id int REFERENCES app.thing)")
    assert set(reflect(cursor).tables) == {"app.thing", "other"}
    cursor.execute("SET search_path TO app, public")
    catalog = reflect(cursor)
    assert set(catalog.tables) == {"thing", "public.other"}
    assert catalog.table("public.other").foreign_keys[0].target == "thing"


class CountingCursor(psycopg2.extensions.cursor):
    queries = 0

    def execute(self, query: Any, vars: Any = None) -> None:
        self.queries += 1
        super().execute(query, vars)


def test_two_hundred_tables_reflect_in_a_few_queries(cursor: Any) -> None:
    statements = ["CREATE TABLE t000 (id serial PRIMARY KEY, name varchar(50) NOT NULL UNIQUE)"]
    for i in range(1, 200):
        statements.append(f"CREATE TABLE t{i:03} (id serial PRIMARY KEY, parent_id integer REFERENCES t{i - 1:03}, "
                          f"other_id integer REFERENCES t000, amount numeric(8, 2) CHECK (amount >= 0), "
                          f"label text, created timestamptz DEFAULT now())")
    cursor.execute(";".join(statements))
    reflect(cursor)  # warm the server's catalog caches
    counting = cursor.connection.cursor(cursor_factory=CountingCursor)
    start = time.perf_counter()
    catalog = reflect(counting)
    elapsed = time.perf_counter() - start
    queries = counting.queries
    print(f"\nreflect(): 200 tables with 398 foreign keys in {elapsed * 1000:.1f} ms, {queries} queries")
    assert len(catalog.tables) == 200
    assert queries <= 14  # a fixed number of bulk queries (13: one per kind of object), not one per table
    last = catalog.table("t199")
    assert [fk.target for fk in last.foreign_keys] == ["t000", "t198"]
    assert last.checks[0].columns == ("amount",)
    assert catalog.table("t000").uniques == (("name",),)
