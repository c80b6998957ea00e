"""`devshell populate` and keys: every unique shape, every foreign-key shape, capped tables, sequences, big schemas.

One test per reproduction of issue 13 in this area, each through the real CLI on
a fresh database; each asserts that rows were written and that the constraint
holds, read back from PostgreSQL.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from typing import Any, Iterator

import psycopg2
import pytest

from conftest import execute, query, run_devshell


def scalar(address: Any, db: str, text: str) -> Any:
    return query(address, db, text)[0][0]


def populate(db: str, size: str = "medium", seed: str = "3", env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = run_devshell("populate", "-d", db, "--size", size, "--seed", seed, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done


def test_unique_over_jsonb_and_arrays(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE country (id serial PRIMARY KEY, name jsonb NOT NULL UNIQUE);
        CREATE TABLE toc (id serial PRIMARY KEY, n int NOT NULL, offs int[] NOT NULL, UNIQUE (n, offs));""")
    populate(new_db, "large")

    assert scalar(address, new_db, "SELECT count(*) FROM country") == 1000
    assert scalar(address, new_db, "SELECT count(DISTINCT name) FROM country") == 1000
    assert scalar(address, new_db, "SELECT count(*), count(DISTINCT (n, offs)) FROM toc") == 1000


def test_partial_and_expression_unique_indexes(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE editor (id serial PRIMARY KEY, name varchar(64) NOT NULL);
        CREATE UNIQUE INDEX ON editor (lower(name));
        CREATE TABLE users (id serial PRIMARY KEY);
        CREATE TABLE presence (id serial PRIMARY KEY, user_id int REFERENCES users);
        CREATE UNIQUE INDEX ON presence (user_id) WHERE user_id IS NOT NULL;
        CREATE TABLE setting (id serial PRIMARY KEY, active boolean NOT NULL DEFAULT false);
        CREATE UNIQUE INDEX ON setting (active) WHERE active;
        CREATE TABLE prio (id serial PRIMARY KEY, a int, b smallint);
        CREATE UNIQUE INDEX ON prio (coalesce(a, 0), coalesce(b, -1));
        CREATE TABLE tag (id serial PRIMARY KEY, label text NOT NULL, deleted_at timestamptz);
        CREATE UNIQUE INDEX ON tag (label) WHERE deleted_at IS NULL;
        CREATE UNIQUE INDEX ON tag (md5(label || 'salt'));  -- not evaluated: kept stricter""")
    populate(new_db, "large")

    for table in ("editor", "presence", "setting", "prio", "tag"):
        assert scalar(address, new_db, f"SELECT count(*) FROM {table}") == 1000, table
    assert scalar(address, new_db, "SELECT count(DISTINCT lower(name)) FROM editor") == 1000
    assert scalar(address, new_db, "SELECT count(user_id) = count(DISTINCT user_id) FROM presence")
    assert scalar(address, new_db, "SELECT count(*) FROM setting WHERE active") <= 1
    assert scalar(address, new_db, "SELECT count(*) FROM setting WHERE NOT active") >= 999
    assert scalar(address, new_db, "SELECT count(DISTINCT (coalesce(a, 0), coalesce(b, -1))) FROM prio") == 1000
    assert scalar(address, new_db, "SELECT count(*) FROM prio WHERE a IS NULL") > 0  # NULLs still made
    assert scalar(address, new_db, "SELECT count(label) = count(DISTINCT label) FROM tag WHERE deleted_at IS NULL")
    assert scalar(address, new_db, "SELECT count(*) FROM tag WHERE deleted_at IS NOT NULL") > 0


def test_composite_key_of_text_foreign_keys(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE c (id varchar(5) PRIMARY KEY); CREATE TABLE d (id varchar(5) PRIMARY KEY);
        CREATE TABLE cd (c_id varchar(5) NOT NULL REFERENCES c, d_id varchar(5) NOT NULL REFERENCES d,
                         PRIMARY KEY (c_id, d_id));""")
    populate(new_db, "medium", seed="10")

    assert scalar(address, new_db, "SELECT count(*) FROM cd") == 100
    # no retry suffix made a value that points nowhere
    assert scalar(address, new_db, "SELECT count(*) FROM cd WHERE c_id NOT IN (SELECT id FROM c) "
                                   "OR d_id NOT IN (SELECT id FROM d)") == 0


def test_composite_foreign_key_equal_to_the_primary_key(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE tf (t char(13), f int, PRIMARY KEY (t, f));
        CREATE TABLE bp (t char(13), f int, PRIMARY KEY (t, f), FOREIGN KEY (t, f) REFERENCES tf);""")
    populate(new_db, "medium")

    # one to one: every parent used exactly once
    assert scalar(address, new_db, "SELECT count(*), count(DISTINCT (t, f)) FROM bp") == 100
    assert scalar(address, new_db, "SELECT count(*) FROM bp JOIN tf USING (t, f)") == 100


def test_foreign_key_to_a_unique_in_another_column_order(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE b (id bigint, part bigint, PRIMARY KEY (id, part), UNIQUE (part, id));
        CREATE TABLE bm (build_id bigint, part bigint, PRIMARY KEY (build_id, part),
                         FOREIGN KEY (part, build_id) REFERENCES b (part, id));""")
    populate(new_db, "large")

    assert scalar(address, new_db, "SELECT count(*) FROM bm") == 1000
    assert scalar(address, new_db, "SELECT count(*) FROM bm JOIN b ON b.id = bm.build_id AND b.part = bm.part") \
        == 1000


def test_two_composite_foreign_keys_sharing_a_column(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE project (id serial PRIMARY KEY, name text NOT NULL);
        CREATE TABLE milestone (project_id int NOT NULL REFERENCES project, id int NOT NULL,
                                PRIMARY KEY (project_id, id));
        CREATE TABLE label (project_id int NOT NULL REFERENCES project, id int NOT NULL,
                            PRIMARY KEY (project_id, id));
        CREATE TABLE issue (id serial PRIMARY KEY, project_id int NOT NULL REFERENCES project,
                            milestone_id int, label_id int NOT NULL,
                            FOREIGN KEY (project_id, milestone_id) REFERENCES milestone,
                            FOREIGN KEY (project_id, label_id) REFERENCES label);
        -- a tree inside a project: the parent shares the project
        CREATE TABLE task (project_id int NOT NULL REFERENCES project, id int NOT NULL, parent_id int,
                           PRIMARY KEY (project_id, id), FOREIGN KEY (project_id, parent_id) REFERENCES task);
        -- partitioned parents sharing the partition column, one row per build (1:1 through the shared key)
        CREATE TABLE build (part int NOT NULL, id bigserial, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
        CREATE TABLE build_1 PARTITION OF build FOR VALUES IN (1);
        CREATE TABLE build_2 PARTITION OF build FOR VALUES IN (2);
        CREATE TABLE stage (part int NOT NULL, id bigserial, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
        CREATE TABLE stage_1 PARTITION OF stage FOR VALUES IN (1);
        CREATE TABLE stage_2 PARTITION OF stage FOR VALUES IN (2);
        CREATE TABLE build_meta (id bigserial PRIMARY KEY, part int NOT NULL, build_id bigint NOT NULL,
                                 stage_id bigint, UNIQUE (build_id, part),
                                 FOREIGN KEY (build_id, part) REFERENCES build (id, part),
                                 FOREIGN KEY (stage_id, part) REFERENCES stage (id, part));""")
    populate(new_db, "large")

    assert scalar(address, new_db, "SELECT count(*) FROM issue") == 1000
    # both keys honoured: the milestone and the label belong to the project
    assert scalar(address, new_db, "SELECT count(*) FROM issue i JOIN label l ON l.project_id = i.project_id "
                                   "AND l.id = i.label_id") == 1000
    assert scalar(address, new_db, "SELECT count(*) FROM issue i JOIN milestone m ON m.project_id = i.project_id "
                                   "AND m.id = i.milestone_id") == \
        scalar(address, new_db, "SELECT count(milestone_id) FROM issue")
    assert scalar(address, new_db, "SELECT count(milestone_id) FROM issue") > 500  # most are set
    assert scalar(address, new_db, "SELECT count(*) FROM build_meta m JOIN build b ON b.id = m.build_id "
                                   "AND b.part = m.part") == 1000  # every build once
    assert scalar(address, new_db, "SELECT count(*) FROM build_meta m JOIN stage s ON s.id = m.stage_id "
                                   "AND s.part = m.part") == scalar(address, new_db,
                                                                   "SELECT count(stage_id) FROM build_meta")
    assert scalar(address, new_db, "SELECT count(*) FROM task t JOIN task p ON p.project_id = t.project_id "
                                   "AND p.id = t.parent_id") == scalar(address, new_db,
                                                                      "SELECT count(parent_id) FROM task")


@pytest.mark.parametrize("size, rows", [("large", {"cur": 1000, "iso": 1000}),
                                        ("2000", {"cur": 2000, "iso": 1296})])
def test_short_unique_codes(address, new_db, size, rows) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE cur (code char(3) PRIMARY KEY);
        CREATE TABLE iso (code char(2) PRIMARY KEY, name text);
        CREATE TABLE city (id serial PRIMARY KEY, iso char(2) NOT NULL REFERENCES iso, cur char(3) REFERENCES cur);""")
    done = populate(new_db, size)

    for table, count in rows.items():
        assert query(address, new_db, f"SELECT count(*), count(DISTINCT code) FROM {table}") == [(count, count)]
    assert scalar(address, new_db, "SELECT count(*) FROM cur WHERE length(code) <> 3") == 0
    assert scalar(address, new_db, "SELECT count(*) FROM iso WHERE length(code) <> 2") == 0
    assert scalar(address, new_db, "SELECT count(*) FROM city") == int(size.replace("large", "1000"))
    if rows["iso"] < 1000:  # 36 x 36 codes: the table holds what can exist, and the summary says so
        assert "iso gets 1296 rows, not 2000: its unique (code) allows only 1296 distinct values" in done.stdout


def test_unique_foreign_key_filled_by_the_cycle_update(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE ns (id serial PRIMARY KEY, pr int UNIQUE);
        CREATE TABLE pr (id serial PRIMARY KEY, ns int NOT NULL REFERENCES ns);
        ALTER TABLE ns ADD FOREIGN KEY (pr) REFERENCES pr;""")
    populate(new_db, "medium")

    assert scalar(address, new_db, "SELECT count(*) FROM ns") == 100
    assert scalar(address, new_db, "SELECT count(pr) FROM ns") > 50
    assert scalar(address, new_db, "SELECT count(pr) = count(DISTINCT pr) FROM ns")


def test_owned_sequence_starting_above_one(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE SEQUENCE s START 1000 MINVALUE 1000;
        CREATE TABLE t (id int PRIMARY KEY DEFAULT nextval('s'), name text);
        ALTER SEQUENCE s OWNED BY t.id;
        CREATE TABLE child (id serial PRIMARY KEY, t_id int NOT NULL REFERENCES t);""")
    populate(new_db, "medium")

    assert scalar(address, new_db, "SELECT count(*), min(id) FROM t") == 100
    assert scalar(address, new_db, "SELECT min(id) FROM t") == 1000
    assert scalar(address, new_db, "SELECT nextval('s') > max(id) FROM t")
    assert scalar(address, new_db, "SELECT count(*) FROM child JOIN t ON t.id = child.t_id") == 100


def test_exclusion_constraint_over_ranges(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        CREATE TABLE rotation (id serial PRIMARY KEY, name text NOT NULL);
        CREATE TABLE shift (id serial PRIMARY KEY, rotation_id int NOT NULL REFERENCES rotation,
            starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL,
            EXCLUDE USING gist (rotation_id WITH =, tstzrange(starts_at, ends_at) WITH &&));
        CREATE TABLE booking (id serial PRIMARY KEY, room int NOT NULL CHECK (room BETWEEN 1 AND 3),
            first_day date NOT NULL, last_day date NOT NULL,
            EXCLUDE USING gist (room WITH =, daterange(first_day, last_day, '[]') WITH &&));
        CREATE TABLE lease (id serial PRIMARY KEY, rotation_id int NOT NULL REFERENCES rotation,
            during tstzrange NOT NULL, EXCLUDE USING gist (rotation_id WITH =, during WITH &&));""")
    populate(new_db, "large")

    for table in ("shift", "booking", "lease"):
        assert scalar(address, new_db, f"SELECT count(*) FROM {table}") == 1000
    assert scalar(address, new_db, "SELECT count(*) FROM lease a JOIN lease b ON a.rotation_id = b.rotation_id "
                                   "AND a.id < b.id AND a.during && b.during") == 0
    assert scalar(address, new_db, "SELECT count(*) FROM shift a JOIN shift b ON a.rotation_id = b.rotation_id "
                                   "AND a.id < b.id AND tstzrange(a.starts_at, a.ends_at) && "
                                   "tstzrange(b.starts_at, b.ends_at)") == 0
    # three rooms, 1000 stays: ranges were moved into free gaps, not piled up
    assert scalar(address, new_db, "SELECT count(DISTINCT room) FROM booking") == 3


def test_singleton_table_gets_its_one_row(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE settings (id serial PRIMARY KEY,
            singleton boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton IS TRUE), name text);
        CREATE TABLE settings_item (id serial PRIMARY KEY, settings_id int NOT NULL REFERENCES settings);""")
    done = populate(new_db, "large")

    assert scalar(address, new_db, "SELECT count(*) FROM settings") == 1
    assert scalar(address, new_db, "SELECT count(*) FROM settings_item JOIN settings s ON s.id = settings_id") \
        == 1000
    assert "settings gets 1 row, not 1000: its unique (singleton) allows only 1 distinct value" in done.stdout


def test_inherits_hierarchy_gets_distinct_ids(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE base (id serial PRIMARY KEY, name text NOT NULL);
        CREATE TABLE kid1 (extra int) INHERITS (base);
        CREATE TABLE kid2 (more text) INHERITS (base);
        CREATE TABLE note (id serial PRIMARY KEY, base_id int NOT NULL REFERENCES base);""")
    populate(new_db, "medium")

    assert scalar(address, new_db, "SELECT count(*) FROM base") == 300  # the parent sees its children's rows
    assert scalar(address, new_db, "SELECT count(DISTINCT id) FROM base") == 300
    assert scalar(address, new_db, "SELECT nextval('base_id_seq') > max(id) FROM base")
    assert scalar(address, new_db, "SELECT count(*) FROM note JOIN ONLY base b ON b.id = note.base_id") == 100


# -- big schemas: thousands of foreign keys on a server with the default lock table -------------------------
def fk_heavy_schema(tables: int, per_table: int) -> str:
    """*tables* tables, each with *per_table* foreign keys to the tables before it (half of them nullable)."""
    statements = []
    for i in range(tables):
        keys = "".join(f", r{k} int{' NOT NULL' if k % 2 == 0 else ''} REFERENCES t{i - k - 1}"
                       for k in range(min(per_table, i)))
        statements.append(f"CREATE TABLE t{i} (id serial PRIMARY KEY, name text NOT NULL{keys});")
    return "\n".join(statements)


def orphans(address: Any, db: str) -> int:
    """Rows, over every foreign key of *db*, whose key points nowhere (checked here, not by the load)."""
    keys = query(address, db, """
        SELECT conrelid::regclass::text, confrelid::regclass::text, a.attname, r.attname
          FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
          JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1] WHERE c.contype = 'f'""")
    parts = [f"SELECT count(*) FROM {child} c WHERE {column} IS NOT NULL AND NOT EXISTS "
             f"(SELECT 1 FROM {parent} p WHERE p.{ref} = c.{column})" for child, parent, column, ref in keys]
    return sum(scalar(address, db, " UNION ALL ".join(parts[i:i + 500]).join(["SELECT sum(count) FROM (", ") s"]))
               for i in range(0, len(parts), 500))


@pytest.fixture
def big_schema(address, new_db) -> str:  # type: ignore[no-untyped-def]
    execute(address, new_db, fk_heavy_schema(760, 4))
    settings = dict(query(address, new_db, "SELECT name, setting::int FROM pg_settings WHERE name IN "
                                           "('max_locks_per_transaction', 'max_connections')"))
    keys = scalar(address, new_db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
    assert settings["max_locks_per_transaction"] == 64  # the default: the test really meets the limit
    # dropping every key locks 5 objects each: more than the whole lock table of this server holds
    assert keys > 3000 and keys * 5 > settings["max_locks_per_transaction"] * settings["max_connections"]
    return new_db


def test_big_schema_checks_every_key_once(address, big_schema) -> None:  # type: ignore[no-untyped-def]
    done = populate(big_schema, "500", timeout=600)

    assert scalar(address, big_schema, "SELECT count(*) FROM t759") == 500
    assert "3030 foreign keys checked once after the load" in done.stdout
    assert "row by row" not in done.stdout  # no silent (or any) fallback
    assert orphans(address, big_schema) == 0
    assert scalar(address, big_schema, "SELECT bool_and(tgenabled = 'O') FROM pg_trigger WHERE tgisinternal")


@pytest.fixture
def owner_role(address, big_schema) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A role (not a superuser) that owns every table of the big schema."""
    role = f"owner_{uuid.uuid4().hex[:8]}"
    execute(address, big_schema, f"CREATE ROLE {role} LOGIN; GRANT ALL ON SCHEMA public TO {role};"
                                 + "".join(f"ALTER TABLE t{i} OWNER TO {role};" for i in range(760)))
    yield role
    execute(address, big_schema, f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_big_schema_as_an_owner_drops_what_the_lock_table_allows(address, big_schema, owner_role) -> None:  # type: ignore[no-untyped-def]
    done = populate(big_schema, "500", env={"DEVSHELL_DB_USER": owner_role}, timeout=600)

    assert scalar(address, big_schema, "SELECT count(*) FROM t759") == 500
    line = next(line for line in done.stdout.splitlines() if "foreign keys" in line)
    found = re.match(r"(\d+) foreign keys dropped and re-added; (\d+) foreign keys checked row by row", line)
    assert found is not None, line
    dropped, kept = int(found.group(1)), int(found.group(2))
    assert dropped > 0 and kept > 0 and dropped + kept == 3030
    assert "checked row by row (dropping them all would overflow the server's lock table" in line
    assert scalar(address, big_schema, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                                       "AND convalidated") == 3030  # every key is back


def test_a_row_without_parent_is_found_after_the_load(address, new_db) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect
    from devshell.populate.foreignkeys import hold_foreign_keys, restore_foreign_keys

    execute(address, new_db, "CREATE TABLE p (id int PRIMARY KEY, code int UNIQUE, UNIQUE (id, code));"
                             "CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p, q int, r int,"
                             "                FOREIGN KEY (q, r) REFERENCES p (id, code) MATCH FULL);")
    conn = connect(address, new_db)
    try:
        with conn.cursor() as cr:
            hold = hold_foreign_keys(cr, {("public", "c"): 1000})
            assert hold.mode == "disabled" and len(hold.keys) == 2
            cr.execute("SAVEPOINT s; INSERT INTO p VALUES (1, 1); "
                       "INSERT INTO c SELECT g, 1, 1, 1 FROM generate_series(1, 999) g;"
                       "INSERT INTO c VALUES (1000, 2)")  # no p 2: nothing says so while the checks are off
            with pytest.raises(psycopg2.errors.ForeignKeyViolation) as raised:
                restore_foreign_keys(cr, hold)
            assert raised.value.diag.constraint_name == "c_p_id_fkey"
            assert "Key (p_id)=(2) is not present" in raised.value.pgerror
            cr.execute("ROLLBACK TO SAVEPOINT s; INSERT INTO p VALUES (1, 1); INSERT INTO c VALUES (1, 1, 1, NULL)")
            with pytest.raises(psycopg2.errors.ForeignKeyViolation) as raised:  # MATCH FULL: half a key
                restore_foreign_keys(cr, hold)
            assert raised.value.diag.constraint_name == "c_q_r_fkey"
    finally:
        conn.rollback()
        conn.close()
