"""`devshell shell` for daily use: the SQL echo, a savepoint per statement, `env["fi<TAB>`, tables on display,
the grouped banner, startup files, and warnings for writes thrown away — through real pseudo-terminals."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Iterator

import pexpect
import pytest

from conftest import query, run_devshell
from test_shell import PROMPTS, leave, note_count, notes_db, spawn_shell, tolerant  # noqa: F401 - a fixture

from devshell.shell.session import available_interfaces

ANSI_ESCAPES = r"\x1b\[[0-9;?]*[A-Za-z]"
INTERACTIVE = [name for name in ("ipython", "ptpython", "python") if name in available_interfaces()]


def sql_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("SQL ")]


# -- the SQL echo (item 3) -----------------------------------------------------------------------------

def test_log_sql_flag_echoes_statements_with_parameters_but_not_the_startup(notes_db: str) -> None:
    quiet = run_devshell("shell", "-d", notes_db, "--log-sql", "-c", "pass")
    assert quiet.returncode == 0, quiet.stderr
    assert sql_lines(quiet.stderr) == []  # the catalog reflection of the startup is not echoed
    result = run_devshell("shell", "-d", notes_db, "--log-sql", "-c", "note.search_count([('body', '=', 'first')])")
    assert result.returncode == 0, result.stderr
    [line] = sql_lines(result.stderr)
    assert re.match(r'SQL +\d+\.\d\d ms  SELECT count\(\*\) FROM "public"\."note" WHERE \("body" = \'first\'\)$',
                    line), line  # the statement as sent: its parameters in place


def test_log_sql_toggled_at_run_time_with_a_slow_threshold(notes_db: str) -> None:
    code = ("env.sql('SELECT 1 AS before_on')\n"
            "env.log_sql(True)\n"
            "env.sql('SELECT %s AS echoed', ['here'])\n"
            "env.log_sql(False)\n"
            "env.sql('SELECT 2 AS after_off')\n"
            "env.log_sql(True, min_ms=500)\n"
            "env.sql('SELECT 3 AS fast_one')\n"
            "env.sql('SELECT pg_sleep(0.6) AS slow_one')\n")
    result = run_devshell("shell", "-d", notes_db, "-c", code)
    assert result.returncode == 0, result.stderr
    lines = sql_lines(result.stderr)
    assert len(lines) == 2, result.stderr
    assert lines[0].endswith(" ms  SELECT 'here' AS echoed")
    assert "pg_sleep(0.6) AS slow_one" in lines[1]
    failing = run_devshell("shell", "-d", notes_db, "--log-sql", "-c",
                           "try:\n    env.sql('SELECT %s::int AS broken', ['x'])\nexcept Exception:\n    pass")
    assert sql_lines(failing.stderr)[0].endswith("SELECT %s::int AS broken  -- params ['x']  -- failed")
    threshold = run_devshell("shell", "-d", notes_db, "--log-sql", "-c", "env.sql('SELECT 4 AS fast_two')",
                             env={"DEVSHELL_LOG_SQL_MIN_MS": "500"})
    assert threshold.returncode == 0 and sql_lines(threshold.stderr) == [], threshold.stderr
    on_by_setting = run_devshell("shell", "-d", notes_db, "-c", "env.sql('SELECT 5 AS by_setting')",
                                 env={"DEVSHELL_LOG_SQL": "1"})
    assert [line.split(" ms  ", 1)[1] for line in sql_lines(on_by_setting.stderr)] == ["SELECT 5 AS by_setting"]


# -- writes thrown away are never silent (item 6) -----------------------------------------------------------

def test_code_and_scripts_that_write_without_commit_warn(address, notes_db: str,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    result = run_devshell("shell", "-d", notes_db, "-c", "note.create({'body': 'lost'})")
    assert result.returncode == 0
    assert result.stderr.strip() == ("devshell: warning: 1 uncommitted statement rolled back (call env.commit() or "
                                     "run it with --commit to keep them)")
    script = tmp_path / "job.py"
    script.write_text("note.create([{'body': 'a'}])\nnote.search([]).write({'body': 'b'})\n")
    result = run_devshell("shell", "-d", notes_db, str(script))
    assert result.returncode == 0 and "2 uncommitted statements rolled back" in result.stderr
    piped = run_devshell("shell", "-d", notes_db, input="note.create({'body': 'x'})\n")
    assert "1 uncommitted statement rolled back" in piped.stderr
    reading = run_devshell("shell", "-d", notes_db, "-c", "note.search_count([])")
    assert reading.returncode == 0 and reading.stderr == ""
    committed = run_devshell("shell", "-d", notes_db, "--commit", "-c", "note.create({'body': 'kept'})")
    assert committed.returncode == 0 and committed.stderr == ""
    assert note_count(address, notes_db) == 3


# -- a savepoint per statement (item 5) ------------------------------------------------------------------

@pytest.mark.parametrize("interface", INTERACTIVE)
def test_a_failed_statement_is_rolled_back_alone(interface: str, address, notes_db: str,  # type: ignore[no-untyped-def]
                                                 tmp_path: Path) -> None:
    prompt = PROMPTS[interface]
    child = spawn_shell(notes_db, interface, tmp_path, "--commit")
    child.sendline("note.create({'body': 'kept'}).body")
    child.expect("kept")
    child.expect(prompt)
    child.sendline("note.create({'body': 'undone'}); 1/0")
    child.expect("ZeroDivisionError")
    child.expect(r"devshell: statement rolled back to its savepoint \(1 write undone\); the transaction goes on")
    child.expect(prompt)
    child.sendline("env.sql('SELECT no_such_column FROM note')")
    child.expect("no_such_column")
    child.expect(r"statement rolled back to its savepoint \(it had aborted the transaction\)")
    child.expect(prompt)
    child.sendline("print('bodies', sorted(r.body for r in note.search([])), env.pending_writes)")
    child.expect(r"bodies \['first', 'kept', 'second'\] 1")
    child.expect(prompt)
    leave(child, interface)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert sorted(row[0] for row in query(address, notes_db, "SELECT body FROM note")) == ["first", "kept", "second"]


# -- completion of table names and tables on display (items 4 and 7) -----------------------------------

@pytest.mark.parametrize("interface", [name for name in ("ipython", "ptpython") if name in INTERACTIVE])
def test_env_key_completes_table_names(interface: str, address, notes_db: str,  # type: ignore[no-untyped-def]
                                       tmp_path: Path) -> None:
    from devshell.db.connection import connect

    conn = connect(address, notes_db)
    with conn, conn.cursor() as cr:
        cr.execute('CREATE TABLE "film archive" (id int PRIMARY KEY, title text)')
    conn.close()
    prompt = PROMPTS[interface]
    child = spawn_shell(notes_db, interface, tmp_path)
    child.send('env["no')
    if interface == "ptpython":
        child.expect(" note")  # ptpython completes while typing: its menu shows first, TAB then takes the entry
    child.send("\t")
    # the completion shows on the line: IPython inserts `te`, ptpython `te"]` (and shows a menu)
    child.expect(tolerant('"note') if interface == "ipython" else tolerant('te"]'))
    if interface == "ipython":
        child.send('"]')
    child.sendline("")
    child.expect(r"<model note: 2 columns, primary key id>")
    child.expect(prompt)
    child.send('env["film a')
    if interface == "ptpython":
        child.expect(" film archive")
    child.send("\t")
    child.expect(tolerant('"film archive') if interface == "ipython" else tolerant('rchive"]'))
    if interface == "ipython":
        child.send('"]')
    child.sendline(".search_count([]) + 4242")
    child.expect("4242")  # `env["film archive"]` has 0 rows; `env["film a"]` would have failed
    child.expect(prompt)
    child.sendline("note.search([])")  # a recordset shows as a table
    child.expect(r"id\s*\|\s*body")
    child.expect(r"2\s*\|\s*second")
    child.expect(r"note \(2 records\)")
    child.expect(prompt)
    child.sendline("env.sql('SELECT body, length(body) AS size FROM note ORDER BY body')")
    child.expect(r"body\s*\|\s*size")
    child.expect(r"second\s*\|\s*6")
    child.expect(r"\(2 rows\)")
    child.expect(prompt)
    leave(child, interface)
    child.expect(pexpect.EOF)


def test_tables_in_html_and_dataframes(address, notes_db: str) -> None:  # type: ignore[no-untyped-def]
    import devshell
    from devshell.config import load_config
    from devshell.orm import display

    with devshell.connect(notes_db, config=load_config()) as env:
        env.sql("INSERT INTO note (body) SELECT 'row ' || g FROM generate_series(1, 60) g")
        records = env.note.search([], order="id")
        html = records._repr_html_()
        assert html.count("<tr>") == 1 + display.DISPLAY_ROWS and "<th>body</th>" in html
        assert "<td>&lt;script&gt;</td>" in env.note.create({"body": "<script>"})._repr_html_()
        assert "(62 records, 50 shown)" in html
        text = records.table(width=20)
        assert text.splitlines()[0].split() == ["id", "|", "body"] and text.endswith("note (62 records, 50 shown)")
        narrow = records.table(width=4)
        assert narrow.endswith("(1 more column: body)")
        rows = env.sql("SELECT id, body FROM note WHERE id <= %s ORDER BY id", [2])
        assert rows == [(1, "first"), (2, "second")] and rows[0].body == "first"  # still a list of named tuples
        frame = rows.to_pandas()
        assert list(frame.columns) == ["id", "body"] and frame["body"].tolist() == ["first", "second"]
        assert records.to_pandas().shape == (62, 2)
        polars_frame = env.note.search([("id", "<=", 2)]).to_polars()
        assert polars_frame.columns == ["id", "body"] and polars_frame["body"].to_list() == ["first", "second"]


def test_dataframe_libraries_are_not_imported_at_startup(notes_db: str) -> None:
    code = ("import sys; r = note.search([]); r._repr_html_(); env.sql('SELECT 1')._repr_html_(); "
            "print(sorted(m for m in ('pandas', 'polars', 'numpy') if m in sys.modules))")
    result = run_devshell("shell", "-d", notes_db, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the banner and startup files (items 8 and 9) -------------------------------------------------------------

@pytest.fixture
def many_tables_db(address, new_db: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """30 tables, one whose name is not an identifier and one that shadows a builtin."""
    from devshell.db.connection import connect

    conn = connect(address, new_db)
    with conn, conn.cursor() as cr:
        for number in range(28):
            cr.execute(f"CREATE TABLE inventory_item_{number:02d} (id int PRIMARY KEY)")
        cr.execute('CREATE TABLE "2020 sales" (id int PRIMARY KEY)')
        cr.execute("CREATE TABLE list (id int PRIMARY KEY)")
    conn.close()
    yield new_db


def test_banner_lists_every_name_grouped_within_the_width(many_tables_db: str, tmp_path: Path) -> None:
    startup = tmp_path / "startup.py"
    startup.write_text("from_startup = env.db\n")
    helpers = tmp_path / "helpers.py"
    helpers.write_text("def helper():\n    return 'helped ' + from_startup\n")
    env = dict(os.environ, PYTHONSTARTUP=str(startup), TERM="xterm", HOME=str(tmp_path))
    env.pop("COLUMNS", None)
    child = pexpect.spawn(sys.executable, ["-m", "devshell", "shell", "-d", many_tables_db, "-i", "python",
                                           "--shell-file", str(helpers)],
                          env=env, encoding="utf-8", dimensions=(40, 60), timeout=30, cwd=str(tmp_path))
    child.expect("devshell shell on database")
    child.expect(">>> ")
    banner = re.sub(ANSI_ESCAPES, "", child.before).replace("\r", "")
    lines = banner.splitlines()[1:]
    assert all(len(line) <= 60 for line in lines), lines
    text = " ".join(banner.split())
    for number in range(28):
        assert f"inventory_item_{number:02d}" in text
    assert "tables (28):" in text and "…" not in text
    assert 'other tables (2): env["2020 sales"], env["list"]' in text
    assert "devshell: env, cr, devshell, server()" in text
    assert "from startup files: from_startup, helper" in text
    child.sendline("print(helper())")
    child.expect(f"helped {many_tables_db}")
    child.expect(">>> ")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)


def test_shell_file_runs_before_code_and_is_checked(notes_db: str, tmp_path: Path) -> None:
    helpers = tmp_path / "helpers.py"
    helpers.write_text("greeting = 'hello ' + env.db\n")
    result = run_devshell("shell", "-d", notes_db, "--shell-file", str(helpers), "-c", "print(greeting)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"hello {notes_db}"
    missing = run_devshell("shell", "-d", notes_db, "--shell-file", str(tmp_path / "nope.py"), "-c", "pass")
    assert missing.returncode == 2 and "nope.py: no such file" in missing.stderr
