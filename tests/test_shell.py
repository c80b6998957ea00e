"""`devshell shell`: the non-interactive forms in child processes, each REPL through a real pseudo-terminal."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pexpect
import pytest

from conftest import assert_one_line_error, eventually, query, run_devshell

from devshell.shell.session import available_interfaces


@pytest.fixture
def notes_db(address, new_db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database with one small table `note`."""
    from devshell.db.connection import connect

    conn = connect(address, new_db)
    with conn, conn.cursor() as cr:
        cr.execute("CREATE TABLE note (id serial PRIMARY KEY, body text NOT NULL)")
        cr.execute("INSERT INTO note (body) VALUES ('first'), ('second')")
    conn.close()
    yield new_db


def note_count(address, db: str) -> int:  # type: ignore[no-untyped-def]
    from devshell.db.connection import connect

    conn = connect(address, db)
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT count(*) FROM note")
            return int(cr.fetchone()[0])
    finally:
        conn.close()


def test_code_sees_env_models_and_namespace(notes_db: str) -> None:
    result = run_devshell("shell", "-d", notes_db, "-c",
                          "print(env.db, len(env.registry.models), note.search_count([]), type(cr).__name__)")
    assert result.returncode == 0, result.stderr
    name, models, count, _cursor = result.stdout.split()
    assert (name, models, count) == (notes_db, "1", "2")


def test_script_gets_its_arguments(notes_db: str, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("import sys\nprint(sys.argv[1:], env.db, __file__.endswith('job.py'))\n")
    result = run_devshell("shell", "-d", notes_db, str(script), "a", "--flag", "b")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"['a', '--flag', 'b'] {notes_db} True"


def test_piped_stdin_runs_as_a_script(notes_db: str) -> None:
    result = run_devshell("shell", "-d", notes_db, input="x = note.search([], order='id desc', limit=1)\nprint(x.body)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "second"


def test_rollback_by_default(address, notes_db: str) -> None:  # type: ignore[no-untyped-def]
    result = run_devshell("shell", "-d", notes_db, "-c", "note.create({'body': 'lost'})")
    assert result.returncode == 0, result.stderr
    assert note_count(address, notes_db) == 2


def test_commit_flag_commits(address, notes_db: str) -> None:  # type: ignore[no-untyped-def]
    result = run_devshell("shell", "-d", notes_db, "--commit", "-c", "note.create([{'body': 'a'}, {'body': 'b'}])")
    assert result.returncode == 0, result.stderr
    assert note_count(address, notes_db) == 4


def test_env_commit_without_flag_keeps_work(address, notes_db: str) -> None:  # type: ignore[no-untyped-def]
    result = run_devshell("shell", "-d", notes_db, "-c",
                          "note.create({'body': 'kept'}); env.commit(); note.create({'body': 'dropped'})")
    assert result.returncode == 0, result.stderr
    assert note_count(address, notes_db) == 3


def test_exception_with_commit_rolls_back_and_exits_1(address, notes_db: str) -> None:  # type: ignore[no-untyped-def]
    result = run_devshell("shell", "-d", notes_db, "--commit", "-c",
                          "note.create({'body': 'x'})\nraise ValueError('boom')")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ValueError: boom" in result.stderr
    assert "session.py" not in result.stderr  # only the user's frames
    assert note_count(address, notes_db) == 2


def test_sys_exit_codes_are_kept(notes_db: str) -> None:
    assert run_devshell("shell", "-d", notes_db, "-c", "import sys; sys.exit(0)").returncode == 0
    assert run_devshell("shell", "-d", notes_db, "-c", "import sys; sys.exit(3)").returncode == 3


def test_unknown_interface_is_a_usage_error(notes_db: str) -> None:
    result = run_devshell("shell", "-d", notes_db, "--interface", "emacs")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "emacs" in result.stderr


def test_missing_database_is_one_line(cluster) -> None:  # type: ignore[no-untyped-def]
    result = run_devshell("shell", "-d", "no_such_db_here", "-c", "pass")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip()] and "no_such_db_here" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_log_sql_logs_sql_with_duration(notes_db: str) -> None:
    result = run_devshell("shell", "-d", notes_db, "--log-sql", "-c", "note.search_count([])")
    assert result.returncode == 0, result.stderr
    assert "SQL" in result.stderr and "ms" in result.stderr and "count" in result.stderr.lower()


def test_flags_after_the_script_belong_to_the_script(notes_db: str) -> None:
    """`--debug` after the code's arguments is the user's: no SQL echo, no tracebacks (no argv scan)."""
    result = run_devshell("shell", "-d", notes_db, "-c", "import sys; print(sys.argv)", "x", "--debug")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['-c', 'x', '--debug']"
    assert "SQL" not in result.stderr
    missing = run_devshell("shell", "-d", "no_such_db_here", "-c", "pass", "x", "--debug")
    assert "does not exist" in assert_one_line_error(missing, 1)
    traced = run_devshell("--debug", "shell", "-d", "no_such_db_here", "-c", "pass")  # the root option: tracebacks
    assert traced.returncode == 1 and "Traceback" in traced.stderr and "DatabaseError" in traced.stderr


def test_no_database_fails_before_any_cluster_starts(tmp_path: Path) -> None:
    """`devshell shell -c pass` with no database configured: exit 2, one line, and no cluster made or started."""
    data_dir = tmp_path / "data"
    result = run_devshell("shell", "-c", "pass", cwd=tmp_path, env={"DEVSHELL_DATA_DIR": str(data_dir)})
    assert "missing the database" in assert_one_line_error(result, 2)
    assert not (data_dir / "pg").exists() and not data_dir.exists()
    assert list(tmp_path.iterdir()) == [], "nothing written in the project folder either"


def test_init_and_a_shell_on_one_site_resolve_the_server_and_scan_once(
        address: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    """A Site logs each server resolution and addons-path scan (debug): init then a shell on it do each once."""
    from conftest import FIXTURES, unique_name

    from devshell.config import load_config
    from devshell.db.admin import drop_database
    from devshell.modules import init_database
    from devshell.shell import run_shell
    from devshell.site import Site

    caplog.set_level(logging.DEBUG, logger="devshell")
    db = unique_name("onesite")
    site = Site(load_config(overrides={"db_name": db, "addons_path": [str(FIXTURES / "addons_library")]}))
    try:
        init_database(site, db, ["library"], admin_password="pw")
        assert run_shell(site, code="print(library_greeting, sorted(env.registry.modules))") == 0
        assert capsys.readouterr().out.strip() == "hello from the library ['base', 'library', 'library_base']"
    finally:
        drop_database(address, db, missing_ok=True)
    messages = [record.getMessage() for record in caplog.records if record.name.startswith("devshell.")]
    assert sum(message.startswith("database server resolved") for message in messages) == 1, messages
    assert sum(message.startswith("addons path scanned") for message in messages) == 1, messages


def test_code_mode_imports_no_repl_library(notes_db: str) -> None:
    code = "import sys; print(sorted(m for m in ('IPython', 'ptpython', 'bpython', 'prompt_toolkit') if m in sys.modules))"
    result = run_devshell("shell", "-d", notes_db, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- interactive, through a real pseudo-terminal ---------------------------------------------------

ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"


def tolerant(text: str) -> str:
    """A regex for *text* that lets terminal escape sequences sit between its characters."""
    return ANSI.join(re.escape(char) if char != "#" else r"\d+" for char in text)


PROMPTS = {"ipython": tolerant("In [#]: "), "ptpython": tolerant(">>>"), "bpython": tolerant(">>> "),
           "python": tolerant(">>> ")}


def spawn_shell(db: str, interface: str, tmp_path: Path, *extra: str) -> pexpect.spawn:
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), HOME=str(tmp_path), TERM="xterm",
               PROMPT_TOOLKIT_NO_CPR="1", PYTHONSTARTUP="")
    child = pexpect.spawn(sys.executable, ["-m", "devshell", "shell", "-d", db, "-i", interface, *extra],
                          env=env, encoding="utf-8", dimensions=(40, 200), timeout=30, cwd=str(tmp_path))
    child.expect("devshell shell on database")
    child.expect(PROMPTS[interface])
    return child


def leave(child: pexpect.spawn, interface: str) -> None:
    if interface == "ipython":
        child.sendline("exit")
    elif interface == "ptpython":
        # prompt_toolkit may still be settling its screen when the prompt shows and drop a first
        # Ctrl-D: send it again until ptpython asks to confirm (or ends)
        for _attempt in range(3):
            child.sendcontrol("d")
            index = child.expect([r"exit\?", pexpect.EOF, r"\[Y/n\]", pexpect.TIMEOUT], timeout=5)
            if index != 3:
                break
        if index in (0, 2):
            child.send("y")
    else:
        child.sendcontrol("d")


@pytest.mark.parametrize("interface", [i for i in ("ipython", "ptpython", "bpython", "python")
                                       if i in available_interfaces()])
def test_interactive_interface(interface: str, address, notes_db: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    child = spawn_shell(notes_db, interface, tmp_path)
    child.sendline("print('count=%d' % note.search_count([]), env.db)")
    child.expect(f"count=2 {notes_db}")
    child.expect(PROMPTS[interface])
    child.sendline("note.create({'body': 'typed'}).body")
    child.expect("typed")
    child.expect(PROMPTS[interface])
    leave(child, interface)
    child.expect("1 uncommitted statement rolled back")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert note_count(address, notes_db) == 2


def test_interactive_commit_keeps_writes(address, notes_db: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    child = spawn_shell(notes_db, "python", tmp_path, "--commit")
    child.sendline("note.create({'body': 'kept'}).body")
    child.expect("kept")
    child.expect(">>> ")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert note_count(address, notes_db) == 3


def test_ctrl_c_cancels_the_query_not_the_shell(address, notes_db: str,  # type: ignore[no-untyped-def]
                                                tmp_path: Path) -> None:
    child = spawn_shell(notes_db, "python", tmp_path)
    child.sendline("env.sql('SELECT pg_sleep(60)')")
    sleeping = ("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                "AND query LIKE 'SELECT pg_sleep(60)%%'")
    eventually(lambda: query(address, notes_db, sleeping, (notes_db,))[0][0], timeout=20,
               message="the query never started")
    started = time.monotonic()
    child.sendintr()
    child.expect(["QueryCanceled", "KeyboardInterrupt"])
    # the cancelled statement aborted the transaction: the shell rolls back to its savepoint and goes on
    child.expect(r"statement rolled back to its savepoint \(it had aborted the transaction\)")
    child.expect(">>> ")
    assert time.monotonic() - started < 10
    child.sendline("print('still', env.sql('SELECT 40 + 2')[0][0])")
    child.expect("still 42")
    child.expect(">>> ")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)


def test_history_is_kept_per_project(notes_db: str, tmp_path: Path) -> None:
    child = spawn_shell(notes_db, "python", tmp_path)
    child.sendline("remembered_value = 12345")
    child.expect(">>> ")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    data_dir = Path(os.environ["DEVSHELL_DATA_DIR"])
    assert "remembered_value = 12345" in (data_dir / "shell" / "python_history").read_text()


def test_modules_add_names_to_the_shell(address, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import FIXTURES, unique_name

    from devshell.db.admin import drop_database

    library = FIXTURES / "addons_library"
    db = unique_name("shellmods")
    env = {"DEVSHELL_ADDONS_PATH": str(library)}
    try:
        init = run_devshell("db", "init", "-d", db, "-i", "library", "--admin-password", "pw", env=env)
        assert init.returncode == 0, init.stderr
        result = run_devshell("shell", "-d", db, "-c", "print(library_greeting, sorted(env.registry.modules))",
                              env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "hello from the library ['base', 'library', 'library_base']"
    finally:
        drop_database(address, db, missing_ok=True)


@pytest.mark.skipif("ipython" not in available_interfaces(), reason="IPython is not installed")
def test_ipython_shell_has_the_sql_magics(notes_db: str, tmp_path: Path) -> None:
    child = spawn_shell(notes_db, "ipython", tmp_path)
    child.sendline("%sql SELECT 'marker-' || count(*) AS n FROM note")
    child.expect("marker-2")
    child.expect(PROMPTS["ipython"])
    child.sendline("exit")
    child.expect(pexpect.EOF)
