"""Test session: devshell's own embedded PostgreSQL in a temporary data dir, real databases per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
PAGILA_SQL = SHARED_FIXTURES / "pagila" / "pagila-schema.sql"

# One data dir for the whole session, reachable by the account that runs PostgreSQL when we are root.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="devshell-tests-"))
os.chmod(_SESSION_DIR, 0o755)
DATA_DIR = _SESSION_DIR / "data"
CONFIG_DIR = _SESSION_DIR / "user-config"
CONFIG_DIR.mkdir()

# The environment every test and every child process sees: no user config, no libpq server.
for _name in [name for name in os.environ if name.startswith(("PG", "DEVSHELL_"))]:
    del os.environ[_name]
os.environ["DEVSHELL_DATA_DIR"] = str(DATA_DIR)
os.environ["DEVSHELL_CONFIG_DIR"] = str(CONFIG_DIR)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from devshell.db.embedded import EmbeddedCluster

    cluster = EmbeddedCluster(DATA_DIR)
    if cluster.status().running:
        cluster.stop()
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster():  # type: ignore[no-untyped-def]
    """The session's embedded cluster, started with devshell's own code."""
    from devshell.db.embedded import EmbeddedCluster

    embedded = EmbeddedCluster(DATA_DIR)
    embedded.ensure_running()
    return embedded


@pytest.fixture(scope="session")
def address(cluster):  # type: ignore[no-untyped-def]
    """How to reach the session cluster over its unix socket."""
    return cluster.address()


def eventually(condition: Callable[[], Any], timeout: float = 10, message: str = "") -> Any:
    """The first true value of *condition*, polled for up to *timeout* seconds (a state, not a sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(message or "condition never met")


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def new_db(address) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh empty database, dropped after the test."""
    from devshell.db.admin import create_database, drop_database

    name = unique_name("db")
    create_database(address, name)
    yield name
    drop_database(address, name, missing_ok=True)


@contextmanager
def served_database(address, prefix: str = "web") -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A new database as the server tests serve it (base, the webtest module, the admin user), then dropped."""
    from devshell.db.admin import drop_database
    from server_process import init_web_db

    name = init_web_db(unique_name(prefix))
    try:
        yield name
    finally:
        drop_database(address, name, missing_ok=True)


@pytest.fixture(scope="module")
def db(address) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The served database of a test module: see served_database (test_deploy and test_server_cron have their own)."""
    with served_database(address) as name:
        yield name


def load_sql_script(address, dbname: str, path: Path, skip_owner: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Run a SQL script (no COPY FROM stdin) in one transaction, OWNER TO lines skipped."""
    lines = path.read_text().splitlines()
    if skip_owner:
        lines = [line for line in lines if "OWNER TO" not in line]
    execute(address, dbname, "\n".join(lines))


@pytest.fixture(scope="session")
def pagila_template(address) -> str:  # type: ignore[no-untyped-def]
    """A database holding the Pagila schema (no rows); copy it rather than write to it."""
    from devshell.db.admin import create_database

    name = unique_name("pagila_tpl")
    create_database(address, name)
    load_sql_script(address, name, PAGILA_SQL)
    return name


@pytest.fixture
def pagila_db(address, pagila_template) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh copy of the Pagila schema, dropped after the test."""
    from devshell.db.admin import copy_database, drop_database

    name = unique_name("pagila")
    copy_database(address, pagila_template, name)
    yield name
    drop_database(address, name, missing_ok=True)


def run_devshell(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
                 input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `devshell` console script in a child process."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "devshell", *args], cwd=cwd, env=full_env, input=input,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The contract of SPEC §4: exit *code*, one `devshell: error:` line on stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("devshell: error: "), lines[0]
    return lines[0]


def query(address, db: str, sql: str, params: tuple = ()) -> list[tuple]:  # type: ignore[no-untyped-def]
    """All rows of one query on *db*, in a connection of its own."""
    from devshell.db.connection import connect

    conn = connect(address, db)
    try:
        with conn.cursor() as cr:
            cr.execute(sql, params or None)
            return cr.fetchall()
    finally:
        conn.close()


def execute(address, db: str, sql: str) -> None:  # type: ignore[no-untyped-def]
    """Run *sql* (one statement or many) on *db* and commit, in a connection of its own."""
    from devshell.db.connection import connect

    conn = connect(address, db)
    try:
        with conn, conn.cursor() as cr:
            cr.execute(sql)
    finally:
        conn.close()


def read_stderr_until(child: subprocess.Popen[str], prefix: str) -> list[str]:
    """The lines *child* wrote on stderr up to the first that starts with *prefix* (a progress line, say)."""
    assert child.stderr is not None
    seen: list[str] = []
    while not any(line.startswith(prefix) for line in seen):
        line = child.stderr.readline()
        assert line, f"the process ended before writing {prefix!r}: {seen}"
        seen.append(line)
    return seen


def wait_for_statement(address, db: str, prefix: str, child: subprocess.Popen[str] | None = None,  # type: ignore[no-untyped-def]
                       timeout: float = 120) -> int:
    """The pid of the backend running, on *db*, a statement that starts with *prefix* (``COPY "public"."big"``),
    as soon as pg_stat_activity shows it; fails if *child* ends first, or after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = query(address, db, "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                                   "AND pid <> pg_backend_pid() AND starts_with(query, %s)", (db, prefix))
        if found:
            return int(found[0][0])
        assert child is None or child.poll() is None, f"the process ended before {prefix!r} ran"
        assert time.monotonic() < deadline, f"no {prefix!r} on {db} after {timeout} s"
        time.sleep(0.02)  # poll again: the state is not there yet
