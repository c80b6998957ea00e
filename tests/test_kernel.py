"""The devshell Jupyter kernel, its kernelspecs, and the IPython magics (in a kernel and in a terminal)."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import pexpect
import pytest

from conftest import run_devshell
from test_shell import PROMPTS, note_count, spawn_shell

from devshell.errors import UsageError
from devshell.kernel.sql import bind_parameters


@pytest.fixture
def notes_db(address, new_db) -> str:  # type: ignore[no-untyped-def]
    """A database with a table `note` holding 'first' and 'second'."""
    from devshell.db.connection import connect

    conn = connect(address, new_db)
    with conn, conn.cursor() as cr:
        cr.execute("CREATE TABLE note (id serial PRIMARY KEY, body text NOT NULL)")
        cr.execute("INSERT INTO note (body) VALUES ('first'), ('second')")
    conn.close()
    return new_db


@pytest.fixture
def kernels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary Jupyter prefix that jupyter_client searches, and no platformdirs migration warning."""
    prefix = tmp_path / "prefix"
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return prefix


def install(prefix: Path, db: str, *args: str) -> str:
    name = f"devshell-test-{uuid.uuid4().hex[:8]}"
    result = run_devshell("kernel", "install", "-d", db, "--name", name, "--prefix", str(prefix), *args)
    assert result.returncode == 0, result.stderr
    return name


class Kernel:
    """A kernel started with jupyter_client; :meth:`run` executes a cell and collects what it showed."""

    def __init__(self, name: str) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name=name, startup_timeout=60)

    def run(self, code: str) -> tuple[str, list[dict[str, Any]]]:
        outputs: list[dict[str, Any]] = []

        def keep(message: dict[str, Any]) -> None:
            if message["msg_type"] in ("stream", "execute_result", "display_data", "error"):
                outputs.append({"type": message["msg_type"], **message["content"]})

        reply = self.client.execute_interactive(code, output_hook=keep, timeout=60)
        return reply["content"]["status"], outputs

    def value(self, code: str) -> str:
        status, outputs = self.run(code)
        assert status == "ok", outputs
        return "".join(out["data"]["text/plain"] for out in outputs if out["type"] == "execute_result")

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel_for(kernels: Path) -> Iterator[Any]:
    started: list[Kernel] = []

    def start(db: str) -> Kernel:
        started.append(Kernel(install(kernels, db)))
        return started[-1]

    yield start
    for kernel in started:
        kernel.close()


# -- kernelspecs ---------------------------------------------------------------------------------

def test_install_list_remove(kernels: Path, new_db: str) -> None:
    name = install(kernels, new_db, "--display-name", "Notes DB")
    folder = kernels / "share" / "jupyter" / "kernels" / name
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["argv"] == [sys.executable, "-m", "devshell.kernel", "-f", "{connection_file}"]
    assert spec["display_name"] == "Notes DB" and spec["language"] == "python"
    assert spec["env"]["DEVSHELL_DB_NAME"] == new_db
    assert spec["env"]["DEVSHELL_DATA_DIR"] == os.environ["DEVSHELL_DATA_DIR"]
    assert spec["metadata"]["devshell"] == {"db": new_db}
    assert (folder / "logo-64x64.png").is_file()

    listed = run_devshell("kernel", "list", "--prefix", str(kernels))
    assert listed.returncode == 0 and re.search(rf"^{name}\s+{new_db}\s+{re.escape(str(folder))}$", listed.stdout, re.M)

    removed = run_devshell("kernel", "remove", name, "--prefix", str(kernels))
    assert removed.returncode == 0, removed.stderr
    assert not folder.exists()
    again = run_devshell("kernel", "remove", name, "--prefix", str(kernels))
    assert again.returncode == 2 and f"no devshell kernel named {name!r}" in again.stderr


def test_settings_in_effect_are_baked_in_and_secrets_left_out(kernels: Path, new_db: str, tmp_path: Path) -> None:
    addons = tmp_path / "addons"
    addons.mkdir()
    result = run_devshell("kernel", "install", "-d", new_db, "--name", "baked", "--prefix", str(kernels),
                          env={"DEVSHELL_ADDONS_PATH": str(addons), "DEVSHELL_DB_PASSWORD": "s3cret"})
    assert result.returncode == 0, result.stderr
    assert "db_password not written to the kernelspec" in result.stderr
    text = (kernels / "share" / "jupyter" / "kernels" / "baked" / "kernel.json").read_text()
    assert json.loads(text)["env"]["DEVSHELL_ADDONS_PATH"] == str(addons)
    assert "s3cret" not in text


def test_install_refuses_bad_input_and_foreign_kernels(kernels: Path, new_db: str) -> None:
    both = run_devshell("kernel", "install", "-d", new_db, "--user", "--prefix", str(kernels))
    assert both.returncode == 2 and "choose one of --user, --sys-prefix and --prefix" in both.stderr
    bad = run_devshell("kernel", "install", "-d", new_db, "--name", "no spaces", "--prefix", str(kernels))
    assert bad.returncode == 2 and "invalid kernel name" in bad.stderr
    missing = run_devshell("kernel", "install", "-d", "no_such_db_k", "--name", "later", "--prefix", str(kernels))
    assert missing.returncode == 0 and "database 'no_such_db_k' does not exist yet" in missing.stderr
    foreign = kernels / "share" / "jupyter" / "kernels" / "plainpython"
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text(json.dumps({"argv": ["python", "-m", "ipykernel_launcher", "-f",
                                                              "{connection_file}"], "display_name": "Python",
                                                     "language": "python"}))
    refused = run_devshell("kernel", "remove", "plainpython", "--prefix", str(kernels))
    assert refused.returncode == 2 and "is not a devshell kernel" in refused.stderr
    assert foreign.is_dir()


# -- the kernel ------------------------------------------------------------------------------------

def test_kernel_binds_the_environment(kernel_for: Any, notes_db: str) -> None:
    kernel = kernel_for(notes_db)
    assert kernel.value("env.db") == repr(notes_db)
    assert kernel.value("note.search_count([]), type(cr).__name__, callable(server)") == "(2, 'TrackedCursor', True)"
    assert kernel.value("import psycopg2.extensions, psycopg2.extras\n"
                        "psycopg2.extensions.get_wait_callback() is psycopg2.extras.wait_select") == "True"


def test_kernel_on_a_missing_database_shows_the_error(kernel_for: Any, cluster) -> None:  # type: ignore[no-untyped-def]
    kernel = kernel_for("no_such_db_for_kernel")
    status, outputs = kernel.run("print('this first cell does not run')")
    assert status == "error"
    text = "\n".join(out.get("text", "") + "\n".join(out.get("traceback", [])) for out in outputs)
    assert "EnvironmentNotBound" in text and "no_such_db_for_kernel" in text and "does not exist" in text
    assert "%devshell connect DB" in text and "this first cell does not run" not in text
    assert kernel.value("1 + 1") == "2"  # once only; the kernel works
    assert kernel.value("'env' in globals(), 'server' in globals()") == "(False, False)"


def test_connect_magic_after_a_failed_binding(kernel_for: Any, notes_db: str) -> None:
    kernel = kernel_for("no_such_db_either")
    status, outputs = kernel.run(f"%devshell connect {notes_db}")
    assert status == "ok" and f"connected to {notes_db!r}" in outputs[0]["text"]
    assert kernel.value("note.search_count([])") == "2"  # the pending binding error is gone


# -- the magics ---------------------------------------------------------------------------------

def test_magics_in_a_plain_ipython_kernel(notes_db: str, address, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    kernel = Kernel("python3")
    try:
        kernel.value("%load_ext devshell")
        status, outputs = kernel.run("%%sql\nSELECT 1")
        assert status == "error" and "run %devshell connect DB first" in str(outputs)
        kernel.value(f"%devshell connect {notes_db}")
        kernel.value("wanted = 'second'")
        status, outputs = kernel.run("%%sql\nSELECT id, body, 'a:b' AS literal, '50%' AS pct\n"
                                     "  FROM note WHERE body = :wanted")
        html = outputs[0]["data"]["text/html"]
        assert status == "ok" and "<th>body</th>" in html and "<td>second</td>" in html and "<td>50%</td>" in html
        assert kernel.value("_sql[0].body, _sql.columns") == "('second', ('id', 'body', 'literal', 'pct'))"
        status, outputs = kernel.run("%%sql added <<\nINSERT INTO note (body) VALUES (:wanted) RETURNING id")
        assert status == "ok" and outputs == []
        assert kernel.value("len(added), env.pending_writes") == "(1, 1)"
        assert kernel.value("%commit") == "" and note_count(address, notes_db) == 3
        kernel.value("%sql DELETE FROM note")
        status, outputs = kernel.run("%sql SELECT * FROM no_such_table")
        assert status == "error" and outputs[0]["traceback"][0].startswith("SqlError: relation \"no_such_table\"")
        assert kernel.value("%sql SELECT count(*) AS n FROM note") .endswith("(1 row)")  # still usable
        kernel.value("%rollback")
        assert note_count(address, notes_db) == 3
        assert "no servers" in kernel.value("%devshell servers")
        kernel.value("srv = server(max_cron_threads=0)")
        assert re.search(r"threaded\s+threaded\s+http://127\.0\.0\.1:\d+/\s+running", kernel.value("%devshell servers"))
        kernel.value("%devshell stop all")
        assert kernel.value("srv.status()") == "'stopped'"
    finally:
        kernel.close()


def test_magics_and_server_in_a_terminal_ipython(notes_db: str, tmp_path: Path) -> None:
    child = spawn_shell(notes_db, "ipython", tmp_path)
    prompt = PROMPTS["ipython"]
    try:
        child.sendline("%load_ext devshell")
        child.expect(prompt)
        child.sendline("wanted = 'first'")
        child.expect(prompt)
        child.sendline("%sql SELECT id, body FROM note WHERE body = :wanted")
        child.expect(r"id \| body")
        child.expect(r"1\s+\| first")
        child.expect(r"\(1 row\)")
        child.expect(prompt)
        child.sendline("srv = server(max_cron_threads=0); import urllib.request as u; "
                       "print('status', u.urlopen(srv.url + 'web/health').status)")
        child.expect("status 200")
        shown = child.before
        child.expect(prompt)
        shown += child.before
        child.expect(pexpect.TIMEOUT, timeout=1)  # whatever arrives after the prompt would garble it
        shown += child.before
        assert "GET /web/health" not in shown and "INFO" not in shown and "WARNING" not in shown
        child.sendline("print(srv.logs(1))")
        child.expect(r'"GET /web/health HTTP/1.1" 200')
        child.expect(prompt)
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


# -- :name parameters ------------------------------------------------------------------------------

def test_parameters_outside_literals_identifiers_and_comments() -> None:
    namespace = {"a": 1, "b": "x"}
    query, values = bind_parameters(
        "SELECT :a, ':b', \":b\", 1::int, $$ :b $$, $t$:b$t$, E'\\' :b' -- :b\n /* :b /* :b */ */ WHERE x LIKE '5%' AND y = :b",
        namespace)
    assert values == {"a": 1, "b": "x"}
    assert query == ("SELECT %(a)s, ':b', \":b\", 1::int, $$ :b $$, $t$:b$t$, E'\\' :b' -- :b\n"
                     " /* :b /* :b */ */ WHERE x LIKE '5%%' AND y = %(b)s")
    assert bind_parameters("SELECT '50%', 1::text", namespace) == ("SELECT '50%', 1::text", None)
    with pytest.raises(UsageError, match="no variable 'missing' for the parameter :missing"):
        bind_parameters("SELECT :missing", namespace)


# -- daily use: lazy %%sql, completion, the SQL echo, a savepoint per cell, tables -------------------------

def test_sql_cells_fetch_lazily_complete_names_echo_and_fail_alone(kernel_for: Any, notes_db: str) -> None:
    kernel = kernel_for(notes_db)
    assert "SQL echo on" in kernel.run("%devshell sql-log on")[1][0]["text"]
    status, outputs = kernel.run("%%sql\nSELECT g FROM generate_series(1, 1000000) g")
    echoed = "".join(out.get("text", "") for out in outputs if out.get("name") == "stderr")
    assert status == "ok" and 'DECLARE "devshell_sql_cursor" NO SCROLL CURSOR FOR SELECT g' in echoed
    assert 'FETCH FORWARD 1001 FROM "devshell_sql_cursor"' in echoed  # the autolimit, not a million rows
    assert "SAVEPOINT" not in echoed  # devshell's own bookkeeping is not echoed
    html = next(out["data"]["text/html"] for out in outputs if out["type"] == "execute_result")
    assert "1000 rows fetched, 50 shown; the query has more" in html
    assert kernel.value("len(_sql), _sql.more, _sql[-1].g") == "(1000, True, 1000)"
    kernel.value("%devshell sql-log off")
    status, outputs = kernel.run("%%sql --limit 0 everything <<\nSELECT g FROM generate_series(1, 2500) g")
    assert status == "ok" and outputs == []
    assert kernel.value("len(everything), everything.more, int(everything.to_pandas()['g'].sum())") == \
        "(2500, False, 3126250)"

    def complete(code: str) -> list[str]:
        kernel.client.complete(code, len(code))
        return list(kernel.client.get_shell_msg(timeout=30)["content"]["matches"])

    assert complete("%%sql\nSELECT * FROM no") == ["note"]
    assert "body" not in complete("%%sql\nSELECT bo")  # no table named yet: no column offered
    assert complete("%%sql\nSELECT * FROM note WHERE bo") == ["body"]
    assert complete("%%sql\nSELECT note.b") == ["note.body"]
    assert complete('env["no') and all("note" in match for match in complete('env["no'))

    status, outputs = kernel.run("note.create({'body': 'undone'}); 1 / 0")
    assert status == "error"
    assert any("statement rolled back to its savepoint (1 write undone)" in out.get("text", "") for out in outputs)
    assert kernel.value("env.pending_writes, note.search_count([])") == "(0, 2)"
    status, outputs = kernel.run("note.search([], order='id')")
    shown = next(out["data"] for out in outputs if out["type"] == "execute_result")
    assert "note (2 records)" in shown["text/plain"] and "<td>second</td>" in shown["text/html"]
