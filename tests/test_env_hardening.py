"""The environment against odd input (issue 14): `%` in names (item 17), bad arguments, a commit after an SQL error
(item 11)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from conftest import assert_one_line_error, run_devshell


@pytest.fixture
def env(new_db: str) -> Iterator[Any]:
    import devshell

    environment = devshell.connect(new_db)
    environment.sql('CREATE TABLE "pct%table" (id serial PRIMARY KEY, "pct%col" text, "50%s" int)')
    environment.sql('CREATE TABLE "pct%child" (id serial PRIMARY KEY, '
                    '"parent%id" int REFERENCES "pct%table" (id), note text)')
    environment.commit()
    environment.registry.reload()
    try:
        yield environment
    finally:
        environment.close()


def test_names_with_percent_signs_work_in_every_operation(env: Any) -> None:
    model = env["pct%table"]
    created = model.create({"pct%col": "x%y", "50%s": 7})
    created |= model.create([{"pct%col": "%s"}, {"pct%col": "%(name)s"}])
    assert [row["pct%col"] for row in created.read()] == ["x%y", "%s", "%(name)s"]
    found = model.search([("pct%col", "like", "%")], order="pct%col desc", limit=2)
    assert [record["pct%col"] for record in found.read()] == ["x%y", "%s"]
    assert model.count([("pct%col", "=", "x%y")]) == 1
    assert model.search_count([("50%s", ">", 1)]) == 1
    assert model.read([("pct%col", "ilike", "(name)")], ["pct%col"])[0]["pct%col"] == "%(name)s"
    first = created[0]
    first.write({"pct%col": "z%", "50%s": None})
    assert first.read(["pct%col", "50%s"])[0] == {"id": first.id, "pct%col": "z%", "50%s": None}
    child = env["pct%child"].create({"parent%id": first.id, "note": "100%"})
    assert getattr(child, "parent%id") == first  # a foreign key followed through a name with %
    assert env["pct%child"].search([("parent%id.pct%col", "=", "z%")]) == child
    child.unlink()
    created.unlink()
    assert model.count() == 0 and env["pct%child"].count() == 0


@pytest.mark.parametrize("call, words", [
    (lambda env: env[["pct%table"]], "takes a table name"),
    (lambda env: env[5], "takes a table name"),
    (lambda env: env["pct%table"].search([], order=5), "invalid order 5"),
    (lambda env: env["pct%table"].search([], order={"id": 1}), "invalid order"),
    (lambda env: env["pct%table"].search([], limit=10**30), "limit must be a whole number from 0 to"),
    (lambda env: env["pct%table"].search([], offset=2**63), "offset must be a whole number from 0 to"),
])
def test_bad_arguments_are_one_clear_error(env: Any, call: Any, words: str) -> None:
    from devshell.errors import DevshellError

    with pytest.raises(DevshellError, match=words):
        call(env)
    assert env.sql("SELECT 1 AS one")[0].one == 1  # nothing reached PostgreSQL: the transaction is fine


def test_a_commit_after_a_caught_sql_error_is_refused(env: Any) -> None:
    import psycopg2

    from devshell.errors import DevshellError

    env["pct%table"].create({"pct%col": "kept?"})
    with pytest.raises(psycopg2.Error):
        env.sql("SELECT 1 / 0")
    with pytest.raises(DevshellError, match="nothing was committed"):
        env.commit()
    assert env["pct%table"].count() == 0  # rolled back, and the environment is usable again


def test_shell_commit_with_a_caught_sql_error_says_so_and_exits_1(new_db: str) -> None:
    script = ("env.sql('CREATE TABLE kept (id int)')\n"
              "try:\n"
              "    env.sql('SELECT 1 / 0')\n"
              "except Exception as exc:\n"
              "    print('caught', type(exc).__name__)\n")
    result = run_devshell("shell", "-d", new_db, "--commit", "-c", script)
    line = assert_one_line_error(result, 1)
    assert "nothing was committed" in line and result.stdout == "caught DivisionByZero\n"
    check = run_devshell("shell", "-d", new_db, "-c", "print(env.sql(\"SELECT to_regclass('kept')\")[0][0])")
    assert check.stdout == "None\n", check.stderr
    ok = run_devshell("shell", "-d", new_db, "--commit", "-c", "env.sql('CREATE TABLE kept (id int)')")
    assert ok.returncode == 0, ok.stderr
