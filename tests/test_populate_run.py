"""`devshell populate` as a run: triggers, failing tables named (or skipped), dry run, records, Ctrl-C.

Issue 13, deliverables 1, 3, 6, 7, 9, 10 and the partition structure of reproduction 8,
through the real CLI in child processes, each against a fresh database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from typing import Any, Iterator

import pytest

from conftest import (DATA_DIR, assert_one_line_error, execute, query, read_stderr_until, run_devshell,
                      wait_for_statement)


def scalar(address: Any, db: str, text: str) -> Any:
    return query(address, db, text)[0][0]


def populate(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_devshell("populate", "-d", db, "--size", "medium", "--seed", "3", *args)


TRIGGERS = """
CREATE TABLE pipelines (id bigserial PRIMARY KEY); ALTER SEQUENCE pipelines_id_seq RESTART 1000;
CREATE FUNCTION a() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.id := nextval('pipelines_id_seq'); RETURN NEW; END$$;
CREATE TRIGGER a BEFORE INSERT ON pipelines FOR EACH ROW EXECUTE FUNCTION a();
CREATE TABLE stages (id serial PRIMARY KEY, pipeline_id bigint NOT NULL REFERENCES pipelines);
CREATE TABLE event (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE event_meta (id int PRIMARY KEY REFERENCES event);
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO event_meta VALUES (NEW.id); RETURN NULL; END$$;
CREATE TRIGGER f AFTER INSERT ON event FOR EACH ROW EXECUTE FUNCTION f();
"""
MODES = """
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER f_always AFTER INSERT ON event FOR EACH ROW EXECUTE FUNCTION noop();
ALTER TABLE event ENABLE ALWAYS TRIGGER f_always;
CREATE TRIGGER f_off AFTER INSERT ON event FOR EACH ROW EXECUTE FUNCTION f();
ALTER TABLE event DISABLE TRIGGER f_off;
"""
TRIGGER_STATES = "SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
#: a big table loaded after a small one: what the interruption tests stop half way
SMALL_AND_BIG = """
CREATE TABLE small (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE big (id serial PRIMARY KEY, small_id int NOT NULL REFERENCES small, full_name text NOT NULL,
                  email text NOT NULL, created_at timestamptz NOT NULL);
"""


def test_triggers_are_disabled_for_the_load_by_default(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, TRIGGERS + MODES)
    done = populate(new_db)

    assert done.returncode == 0, done.stderr
    assert "triggers: 3 user triggers on 2 tables disabled during the load, enabled again" in done.stdout
    # back in the mode each had: origin, always, and the one that was off stays off
    assert query(address, new_db, TRIGGER_STATES) == [("a", "O"), ("f", "O"), ("f_always", "A"), ("f_off", "D")]
    counts = query(address, new_db, "SELECT (SELECT count(*) FROM pipelines), (SELECT count(*) FROM stages), "
                                    "(SELECT count(*) FROM event), (SELECT count(*) FROM event_meta)")[0]
    assert counts == (100, 100, 100, 100)  # (the AFTER trigger would have made event_meta's ids clash)
    # the triggers work again after the run: the default takes a value, the trigger the next one
    highest = scalar(address, new_db, "SELECT max(id) FROM pipelines")
    assert scalar(address, new_db, "INSERT INTO pipelines DEFAULT VALUES RETURNING id") == highest + 2


@pytest.mark.parametrize("assign", ["nextval('pipelines_id_seq')", "nextval('far') * 7"])
def test_triggers_kept_firing_read_back_the_ids_they_assign(address, new_db, assign) -> None:  # type: ignore[no-untyped-def]
    schema = TRIGGERS.split("CREATE TABLE event ")[0].replace("nextval('pipelines_id_seq')", assign)
    execute(address, new_db, "CREATE SEQUENCE far START 500000;" + schema)
    done = populate(new_db, "--triggers")

    assert done.returncode == 0, done.stderr
    assert "triggers: 1 user trigger on 1 table fired during the load (--triggers)" in done.stdout
    assert scalar(address, new_db, "SELECT count(*) FROM stages") == 100
    if "far" in assign:  # ids devshell could not have made: every child points at one the trigger gave
        assert query(address, new_db, "SELECT min(id), bool_and(id % 7 = 0) FROM pipelines") == [(3_500_000, True)]
    # the children point at the ids the trigger gave (the foreign key holds), spread over them
    assert scalar(address, new_db, "SELECT count(DISTINCT pipeline_id) FROM stages") > 10


def test_triggers_writing_a_loaded_table_are_named_when_kept(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, TRIGGERS)
    done = populate(new_db, "--triggers")

    line = assert_one_line_error(done, 1)
    assert "table event_meta: duplicate key value violates unique constraint" in line
    assert "DETAIL: Key (id)=" in line and "rows were written into it during this run by a trigger" in line
    assert scalar(address, new_db, "SELECT count(*) FROM event") == 0

    skipped = populate(new_db, "--triggers", "--skip-failing")
    assert skipped.returncode == 0, skipped.stderr
    assert "left empty (--skip-failing)" in skipped.stderr and "  table event_meta: duplicate key" in skipped.stderr
    # event_meta holds only what the trigger wrote: one row per event
    assert scalar(address, new_db, "SELECT count(*) FROM event_meta") == 100


@pytest.fixture
def plain_role(address, new_db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A role that may write the tables of *new_db* but owns none of them."""
    role = f"popper_{uuid.uuid4().hex[:8]}"
    execute(address, new_db, f"CREATE ROLE {role} LOGIN")
    yield role
    execute(address, new_db, f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_a_role_that_may_not_disable_triggers_gets_one_line(address, new_db, plain_role) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, TRIGGERS.split("CREATE TABLE event ")[0] + f"""
        GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {plain_role};
        GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {plain_role};""")
    done = run_devshell("populate", "-d", new_db, "--size", "medium", "--seed", "3",
                        env={"DEVSHELL_DB_USER": plain_role})

    line = assert_one_line_error(done, 1)
    assert "cannot disable the triggers of pipelines for the load (must be owner of table pipelines)" in line
    assert "pass --triggers to keep them firing" in line
    assert scalar(address, new_db, "SELECT count(*) FROM pipelines") == 0

    kept = run_devshell("populate", "-d", new_db, "--size", "medium", "--seed", "3", "--triggers",
                        env={"DEVSHELL_DB_USER": plain_role})
    assert kept.returncode == 0, kept.stderr
    assert scalar(address, new_db, "SELECT count(*) FROM stages") == 100


FAILING = """
CREATE TABLE parent_ok (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE ok_child (id serial PRIMARY KEY, parent_id int NOT NULL REFERENCES parent_ok);
CREATE TABLE closed (id serial PRIMARY KEY, note text);
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'closed refuses rows' USING DETAIL = 'closed for the season'; END$$;
CREATE TRIGGER refuse BEFORE INSERT ON closed FOR EACH ROW EXECUTE FUNCTION refuse();
CREATE TABLE closed_child (id serial PRIMARY KEY, closed_id int NOT NULL REFERENCES closed);
CREATE TABLE closed_grandchild (id serial PRIMARY KEY, child_id int NOT NULL REFERENCES closed_child);
CREATE TABLE closed_optional (id serial PRIMARY KEY, closed_id int REFERENCES closed,
                              parent_id int NOT NULL REFERENCES parent_ok);
CREATE TABLE never (id serial PRIMARY KEY, x text NOT NULL CHECK (md5(x) = 'no hash looks like this'));
CREATE TABLE unparted (id int NOT NULL, d date NOT NULL) PARTITION BY RANGE (d);
"""
FAILING_TABLES = ["parent_ok", "ok_child", "closed", "closed_child", "closed_grandchild", "closed_optional",
                  "never", "unparted"]


def counts(address: Any, db: str, tables: list[str]) -> dict[str, int]:
    return dict(query(address, db, " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)))


def test_every_failing_table_is_named_with_its_detail(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, FAILING)
    done = populate(new_db, "--triggers")

    line = assert_one_line_error(done, 1)
    assert "3 tables cannot be filled (nothing was written; --skip-failing loads the others)" in line
    assert "table closed: closed refuses rows (DETAIL: closed for the season)" in line
    assert "table never: " in line and "never_x_check" in line
    assert "table unparted is partitioned and has no partition yet: create its partitions first" in line
    assert "3 tables that need rows in them not tried: closed_child, closed_grandchild, closed_optional" in line
    assert set(counts(address, new_db, FAILING_TABLES).values()) == {0}


def test_skip_failing_loads_the_rest_in_one_run(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, FAILING)
    done = populate(new_db, "--triggers", "--skip-failing")

    assert done.returncode == 0, done.stderr
    assert "devshell: warning: 5 tables left empty (--skip-failing), each with the reason:" in done.stderr
    for expected in ("  table closed: closed refuses rows (DETAIL: closed for the season)",
                     "  table unparted is partitioned and has no partition yet", "  table never: ",
                     "  table closed_child: needs rows in closed",
                     "  table closed_grandchild: needs rows in closed_child"):
        assert expected in done.stderr
    assert counts(address, new_db, FAILING_TABLES) == {
        "parent_ok": 100, "ok_child": 100, "closed_optional": 100,  # its key to the failed table left NULL
        "closed": 0, "closed_child": 0, "closed_grandchild": 0, "never": 0, "unparted": 0}
    assert scalar(address, new_db, "SELECT count(closed_id) FROM closed_optional") == 0
    assert "total" in done.stdout and "seed 3" in done.stdout


def test_foreign_key_into_a_partition(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, """
        CREATE TABLE hashed (id int PRIMARY KEY, payload text) PARTITION BY HASH (id);
        CREATE TABLE hashed_p0 PARTITION OF hashed FOR VALUES WITH (MODULUS 3, REMAINDER 0);
        CREATE TABLE hashed_p1 PARTITION OF hashed FOR VALUES WITH (MODULUS 3, REMAINDER 1);
        CREATE TABLE hashed_p2 PARTITION OF hashed FOR VALUES WITH (MODULUS 3, REMAINDER 2);
        CREATE TABLE hash_ref (id serial PRIMARY KEY, hashed_id int NOT NULL REFERENCES hashed_p0 (id));""")
    done = populate(new_db)

    assert done.returncode == 0, done.stderr
    assert scalar(address, new_db, "SELECT count(*) FROM hash_ref") == 100
    assert scalar(address, new_db, "SELECT count(*) FROM hash_ref "
                                   "WHERE hashed_id NOT IN (SELECT id FROM hashed_p0)") == 0
    assert scalar(address, new_db, "SELECT count(DISTINCT hashed_id) FROM hash_ref") > 5


def test_partitioned_table_without_partitions(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, "CREATE TABLE log (id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at)")
    line = assert_one_line_error(populate(new_db), 1)
    assert line == ("devshell: error: table log is partitioned and has no partition yet: create its partitions "
                    "first (nothing was written)")


MULTI_LEVEL = """
CREATE TABLE reading (id bigint NOT NULL, site text NOT NULL, taken date NOT NULL, value int) PARTITION BY LIST (site);
CREATE TABLE reading_north PARTITION OF reading FOR VALUES IN ('north', 'arctic') PARTITION BY RANGE (taken);
CREATE TABLE reading_n23 PARTITION OF reading_north FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE reading_n24 PARTITION OF reading_north FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
  PARTITION BY RANGE (taken);
CREATE TABLE reading_n24h1 PARTITION OF reading_n24 FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
ALTER TABLE reading_n24h1 ADD CONSTRAINT small_h1 CHECK (value BETWEEN 0 AND 10);
CREATE TABLE reading_south PARTITION OF reading FOR VALUES IN ('south') PARTITION BY HASH (id);
CREATE TABLE reading_s0 PARTITION OF reading_south FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE reading_s1 PARTITION OF reading_south FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE reading_east PARTITION OF reading FOR VALUES IN ('east') PARTITION BY RANGE (value);
CREATE TABLE reading_east_low PARTITION OF reading_east FOR VALUES FROM (0) TO (100);
CREATE TABLE reading_east_rest PARTITION OF reading_east DEFAULT;
CREATE TABLE reading_west PARTITION OF reading FOR VALUES IN ('west') PARTITION BY LIST (value);
CREATE TABLE reading_west_a PARTITION OF reading_west FOR VALUES IN (1, 2, 3);
CREATE TABLE reading_none PARTITION OF reading FOR VALUES IN ('none') PARTITION BY RANGE (taken);
CREATE TABLE span (id serial, at timestamptz NOT NULL, kind int NOT NULL, PRIMARY KEY (id, at, kind))
  PARTITION BY RANGE (at);
CREATE TABLE span_2024 PARTITION OF span FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (kind);
CREATE TABLE span_2024_a PARTITION OF span_2024 FOR VALUES IN (1, 2);
CREATE TABLE span_2024_b PARTITION OF span_2024 FOR VALUES IN (3);
CREATE TABLE span_2025 PARTITION OF span FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
"""


def test_multi_level_partitions_get_rows_inside_a_leaf(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, MULTI_LEVEL)
    done = run_devshell("populate", "-d", new_db, "--size", "300", "--seed", "3")

    assert done.returncode == 0, done.stderr
    leaves = dict(query(address, new_db, """
        SELECT tableoid::regclass::text, count(*) FROM reading GROUP BY 1
        UNION ALL SELECT tableoid::regclass::text, count(*) FROM span GROUP BY 1"""))
    assert sum(rows for leaf, rows in leaves.items() if leaf.startswith("reading")) == 300
    assert sum(rows for leaf, rows in leaves.items() if leaf.startswith("span")) == 300
    # below the first level too: LIST -> RANGE -> RANGE on the same column with a gap, RANGE -> LIST
    assert leaves.get("reading_n23", 0) + leaves.get("reading_n24h1", 0) > 0
    assert leaves.get("span_2024_a", 0) + leaves.get("span_2024_b", 0) > 0
    assert scalar(address, new_db, "SELECT count(*) FROM span WHERE at < '2024-01-01' OR at >= '2026-01-01'") == 0
    assert "reading_none" not in leaves  # partitioned, with no partition: no row can go there


DRY = """
CREATE FUNCTION plausible(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT md5(t) > '4' $$;
CREATE TABLE code (id serial PRIMARY KEY, code text NOT NULL CHECK (plausible(code)));
CREATE TABLE use (id serial PRIMARY KEY, code_id int NOT NULL REFERENCES code);
"""


def test_dry_run_reports_rejection_rates_and_predicts_the_run(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, DRY)
    dry = populate(new_db, "--dry-run")

    assert dry.returncode == 0, dry.stderr
    rates = [line for line in dry.stdout.splitlines() if line.startswith("CHECK code_code_check of code")]
    assert len(rates) == 1, dry.stdout
    share = int(rates[0].split("rejects ")[1].split("%")[0])
    assert 10 <= share <= 50  # md5 > '4': the hashes that start with 0-3, a quarter
    assert "dry run: 2 tables loaded and rolled back, nothing was written; the run with this seed will succeed" \
        in dry.stdout
    assert counts(address, new_db, ["code", "use"]) == {"code": 0, "use": 0}
    assert scalar(address, new_db, "SELECT nextval('code_id_seq')") == 1  # sequences put back too
    execute(address, new_db, "SELECT setval('code_id_seq', 1, false)")

    run = populate(new_db)
    assert run.returncode == 0, run.stderr
    assert counts(address, new_db, ["code", "use"]) == {"code": 100, "use": 100}


def test_dry_run_fails_where_the_run_fails(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, FAILING)
    dry = assert_one_line_error(populate(new_db, "--triggers", "--dry-run"), 1)
    run = assert_one_line_error(populate(new_db, "--triggers"), 1)
    assert dry == run


def test_load_order_is_readable_on_a_thousand_tables(address, new_db) -> None:  # type: ignore[no-untyped-def]
    tables = ["CREATE TABLE t0000 (id serial PRIMARY KEY)"]
    tables += [f"CREATE TABLE t{i:04d} (id serial PRIMARY KEY, p int NOT NULL REFERENCES t{(i - 1) // 3:04d})"
               for i in range(1, 1000)]
    execute(address, new_db, ";\n".join(tables))
    done = run_devshell("populate", "-d", new_db, "--size", "1", "--dry-run", timeout=300)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "order: 1000 tables in 7 levels, parents first (a table needs only tables of the levels above it)" in lines
    start = lines.index("order: 1000 tables in 7 levels, parents first (a table needs only tables of the levels "
                        "above it)")
    block = lines[start + 1:start + 1 + 120]
    assert block[0].startswith("   1. t0000") and any(line.startswith("   7. ") for line in block)
    assert max(len(line) for line in block) <= 100


def test_runs_are_recorded_in_the_data_dir_unless_a_devshell_database(address, new_db) -> None:  # type: ignore[no-untyped-def]
    from devshell.populate.history import runs_in_data_dir

    execute(address, new_db, "CREATE TABLE note (id serial PRIMARY KEY, body text NOT NULL)")
    done = populate(new_db)

    assert done.returncode == 0, done.stderr
    assert scalar(address, new_db, "SELECT to_regclass('devshell_populate') IS NULL")
    (run,) = runs_in_data_dir(DATA_DIR, new_db)
    assert run["seed"] == 3 and run["size"] == "medium" and run["rows"] == {"note": 100}
    assert {"devshell", "faker", "postgresql"} <= set(run["versions"])


def test_a_devshell_database_keeps_its_record(address, new_db) -> None:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect
    from devshell.modules import install_modules

    conn = connect(address, new_db)
    try:
        install_modules(conn, ["base"])
    finally:
        conn.close()
    execute(address, new_db, "CREATE TABLE note (id serial PRIMARY KEY, body text NOT NULL)")
    done = populate(new_db, "--tables", "note")

    assert done.returncode == 0, done.stderr
    assert query(address, new_db, "SELECT seed, size, rows FROM devshell_populate") == [(3, "medium", {"note": 100})]


def test_empty_database_has_nothing_to_populate(new_db) -> None:  # type: ignore[no-untyped-def]
    line = assert_one_line_error(populate(new_db), 1)
    assert line == f"devshell: error: database {new_db} has no table: nothing to populate"


def test_ctrl_c_writes_nothing(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, SMALL_AND_BIG)
    with subprocess.Popen([sys.executable, "-m", "devshell", "populate", "-d", new_db, "--size", "200000"],
                          stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=dict(os.environ)) as child:
        try:
            read_stderr_until(child, "loading big")
            child.send_signal(signal.SIGINT)
            assert child.stderr is not None
            rest = child.stderr.read()
            assert child.wait(timeout=60) == 130, rest
        finally:
            if child.poll() is None:
                child.kill()
    assert rest.strip().splitlines()[-1] == "devshell: error: interrupted: nothing was written"
    assert "Traceback" not in rest
    assert counts(address, new_db, ["small", "big"]) == {"small": 0, "big": 0}
    assert scalar(address, new_db, "SELECT nextval('small_id_seq')") == 1


def test_server_ending_the_session_mid_copy_is_one_line(address, new_db) -> None:  # type: ignore[no-untyped-def]
    execute(address, new_db, SMALL_AND_BIG)
    with subprocess.Popen([sys.executable, "-m", "devshell", "populate", "-d", new_db, "--size", "200000"],
                          stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ)) as child:
        try:
            backend = wait_for_statement(address, new_db, 'COPY "public"."big"', child)
            assert query(address, new_db, "SELECT pg_terminate_backend(%s)", (backend,)) == [(True,)]
            out, err = child.communicate(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == 1, err
    assert "Traceback" not in err
    *progress, line = err.strip().splitlines()  # progress lines (stderr is not a terminal), then the error
    assert all(text.startswith(("loading ", "loaded ")) for text in progress), progress
    assert line == ("devshell: error: populate stopped (nothing was written): the connection to PostgreSQL was "
                    "lost while loading big: terminating connection due to administrator command")
    assert counts(address, new_db, ["small", "big"]) == {"small": 0, "big": 0}


def test_an_unexpected_error_names_what_it_was_working_on() -> None:
    from devshell.populate.failures import unexpected_reason

    def make(name: str) -> None:
        {}[[name]]  # type: ignore[index]  # an unhashable key: a TypeError, as a bug would raise

    try:
        make("title")
    except TypeError as exc:
        reason = unexpected_reason(exc, ["id", "title"])
    assert reason.startswith("column title: TypeError: ")
    assert reason.endswith("(a devshell bug, please report it; --debug shows the traceback)")
