"""`devshell db psql` / `db url` drive the machine's real psql on the embedded and on an external server;
`db list -l` shows a header and human sizes."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import query, run_devshell
from debian_tools import ensure_tool


@pytest.fixture(scope="module")
def psql() -> str:
    return ensure_tool("psql", "postgresql-client")


def no_libpq_env() -> dict[str, str]:
    """The test environment without any PG* variable: what psql finds, devshell told it."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}


def external(cluster: Any) -> dict[str, str]:
    """Settings naming the session cluster as an external server: loopback TCP, a password."""
    tcp = cluster.address(tcp=True)
    return {"DEVSHELL_DB_HOST": tcp.host, "DEVSHELL_DB_PORT": str(tcp.port), "DEVSHELL_DB_USER": tcp.user,
            "DEVSHELL_DB_PASSWORD": tcp.password}


def test_db_psql_runs_sql_files_and_stdin_on_the_embedded_server(psql: str, new_db: str, address: Any,
                                                                 tmp_path: Path) -> None:
    script = tmp_path / "load.sql"
    script.write_text("CREATE TABLE film (id serial PRIMARY KEY, title text);\n"
                      "INSERT INTO film (title) VALUES ('Academy Dinosaur'), ('Ace Goldfinger');\n")
    loaded = run_devshell("db", "psql", "-d", new_db, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(script))
    assert loaded.returncode == 0, loaded.stderr
    assert query(address, new_db, "SELECT count(*) FROM film") == [(2,)]

    piped = run_devshell("db", "psql", "-d", new_db, "-At", input="SELECT current_database(), current_user;\n")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip() == f"{new_db}|{address.user}"

    failed = run_devshell("db", "psql", "-d", new_db, "-v", "ON_ERROR_STOP=1", "-c", "SELECT * FROM no_such_table")
    assert failed.returncode != 0  # psql's own exit status comes through
    assert "no_such_table" in failed.stderr


def test_db_url_and_env_work_with_psql_itself(psql: str, new_db: str, address: Any) -> None:
    url = run_devshell("db", "url", "-d", new_db)
    assert url.returncode == 0, url.stderr
    uri = url.stdout.strip()
    assert uri.startswith("postgresql://") and f"host={address.host}" in uri
    direct = subprocess.run([psql, uri, "-Atc", "SELECT current_database()"], env=no_libpq_env(),
                            capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout.strip() == new_db

    exported = run_devshell("db", "url", "-d", new_db, "--env")
    assert exported.returncode == 0, exported.stderr
    assert all(line.startswith("export PG") for line in exported.stdout.splitlines())
    command = f'eval "$({sys.executable} -m devshell db url -d {new_db} --env)" && psql -Atc "SELECT current_user"'
    evaluated = subprocess.run(["bash", "-c", command], env=no_libpq_env(), capture_output=True, text=True,
                               timeout=60)
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.strip() == address.user

    missing = run_devshell("db", "url")
    assert missing.returncode == 2 and "missing the database" in missing.stderr


def test_psql_and_url_reach_an_external_server(psql: str, new_db: str, cluster: Any) -> None:
    env = external(cluster)
    result = run_devshell("db", "psql", "-d", new_db, "-At", "-c",
                          "SELECT current_database(), inet_server_addr() IS NOT NULL", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{new_db}|t"  # over TCP, logged in with the password

    uri = run_devshell("db", "url", "-d", new_db, env=env).stdout.strip()
    password = env["DEVSHELL_DB_PASSWORD"]
    assert uri.startswith(f"postgresql://{env['DEVSHELL_DB_USER']}:") and f"@127.0.0.1:{env['DEVSHELL_DB_PORT']}/" in uri
    direct = subprocess.run([psql, uri, "-Atc", "SELECT inet_server_addr() IS NOT NULL"], env=no_libpq_env(),
                            capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout.strip() == "t"
    exported = run_devshell("db", "url", "-d", new_db, "--env", env=env).stdout.splitlines()
    assert f"export PGPASSWORD={shlex.quote(password)}" in exported and "export PGHOST=127.0.0.1" in exported


def test_db_list_long_has_a_header_and_human_sizes(new_db: str) -> None:
    result = run_devshell("db", "list", "-l")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "owner", "size"]
    row = next(line for line in lines[1:] if line.split()[0] == new_db)
    assert re.fullmatch(rf"{new_db}\s+\S+\s+\d+\.\d (KiB|MiB|GiB)", row), row
    assert run_devshell("db", "list").stdout.splitlines()[0] != lines[0]  # without -l: names only
