"""Nothing half-done (issue 14, item 10): a killed restore, init, dump or deploy leaves nothing behind.

SIGTERM cleans up as Ctrl-C does (exit 143, one line); SIGKILL cannot be caught,
so what it leaves is hidden (staging databases never show in `db list`) and the
next run of the same command removes it. Each test waits for the command to be
in the middle of its work (a state in PostgreSQL or on disk), then signals it.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, cast

import pytest

from conftest import assert_one_line_error, eventually, execute, query, run_devshell, unique_name

MAINTENANCE = "postgres"
SLOW_SQL = "CREATE TABLE slow_row (id int);\nSELECT pg_sleep(2);\n"


def devshell(*args: str, env: dict[str, str] | None = None, stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "devshell", *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def finished(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def databases_like(address: Any, pattern: str) -> list[str]:
    return [row[0] for row in query(address, MAINTENANCE, "SELECT datname FROM pg_database WHERE datname LIKE %s",
                                    (pattern,))]


def listed(address: Any) -> list[str]:
    result = run_devshell("db", "list")
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def lock_released(address: Any, staging: str) -> bool:
    """True once no session holds the advisory lock of *staging* (its killed builder's session is gone)."""
    from devshell.db.staging import LOCK_SPACE, lock_key

    key = lock_key(staging) & 0xFFFFFFFF  # pg_locks shows the second int4 key as an oid
    rows = query(address, MAINTENANCE, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                       "AND classid = %s AND objid = %s", (LOCK_SPACE, key))
    return rows == [(0,)]


@pytest.fixture(scope="module")
def dump_file(address: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small custom-format dump of a database with one table."""
    from devshell.db.admin import create_database, drop_database

    name = unique_name("source")
    create_database(address, name)
    execute(address, name, "CREATE TABLE item (id int); INSERT INTO item SELECT generate_series(1, 100)")
    path = tmp_path_factory.mktemp("dumps") / "source.dump"
    assert run_devshell("db", "dump", "-d", name, str(path)).returncode == 0
    drop_database(address, name)
    yield path


def start_restore(address: Any, name: str, dump: Path) -> tuple[subprocess.Popen[str], str]:
    """`db restore -d NAME -` fed half of *dump* and held open: the staging database exists, the restore waits."""
    proc = devshell("db", "restore", "-d", name, "-", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    data = dump.read_bytes()
    stdin = cast(io.TextIOWrapper, proc.stdin).buffer  # bytes under the text wrapper
    stdin.write(data[: len(data) // 2])
    stdin.flush()
    staging = eventually(lambda: databases_like(address, f"{name}__restoring_%"), timeout=30,
                         message="the restore never created its staging database")
    return proc, staging[0]


def test_sigterm_during_a_restore_drops_its_staging_database(address: Any, dump_file: Path) -> None:
    name = unique_name("restored")
    proc, _staging = start_restore(address, name, dump_file)
    proc.send_signal(signal.SIGTERM)
    line = assert_one_line_error(finished(proc), 143)
    assert "SIGTERM" in line
    assert databases_like(address, f"{name}%") == []


def test_what_a_sigkilled_restore_leaves_is_hidden_then_removed_by_the_next(address: Any, dump_file: Path) -> None:
    name = unique_name("restored")
    proc, staging = start_restore(address, name, dump_file)
    proc.kill()
    proc.communicate(timeout=30)
    assert databases_like(address, f"{name}%") == [staging]  # left behind, as SIGKILL allows
    assert staging not in listed(address)  # but never listed
    eventually(lambda: lock_released(address, staging), message="the killed restore's session never ended")
    other = unique_name("restored")
    result = run_devshell("db", "restore", "-d", other, str(dump_file))
    assert result.returncode == 0, result.stderr
    assert databases_like(address, f"{name}%") == []  # the next restore removed it
    assert query(address, other, "SELECT count(*) FROM item") == [(100,)]
    assert run_devshell("db", "drop", other).returncode == 0


def slow_module(root: Path) -> Path:
    """A module whose data file takes a few seconds: an init is caught in the middle of its install."""
    folder = root / "slow_mod"
    (folder / "data").mkdir(parents=True)
    (folder / "__manifest__.py").write_text('{"name": "slow_mod", "version": "1.0", "data": ["data/slow.sql"]}\n')
    (folder / "data" / "slow.sql").write_text(SLOW_SQL)
    (folder / "__init__.py").write_text("")
    return root


def start_init(address: Any, name: str, addons: Path) -> tuple[subprocess.Popen[str], str]:
    proc = devshell("db", "init", "-d", name, "-i", "slow_mod", "--addons-path", str(addons),
                    "--admin-password", "pw")
    sleeping = """SELECT datname FROM pg_stat_activity WHERE datname LIKE %s AND query LIKE '%%pg_sleep%%'"""
    found = eventually(lambda: query(address, MAINTENANCE, sleeping, (f"{name}__initializing_%",)), timeout=60,
                       message="the init never reached the slow data file")
    return proc, found[0][0]


def test_sigterm_during_an_init_leaves_no_database(address: Any, tmp_path: Path) -> None:
    name = unique_name("init")
    proc, _staging = start_init(address, name, slow_module(tmp_path))
    proc.send_signal(signal.SIGTERM)  # acted on when the running statement returns
    assert_one_line_error(finished(proc), 143)
    assert databases_like(address, f"{name}%") == []


def test_what_a_sigkilled_init_leaves_is_hidden_then_removed_by_the_next(address: Any, tmp_path: Path) -> None:
    name = unique_name("init")
    proc, staging = start_init(address, name, slow_module(tmp_path))
    proc.kill()
    proc.communicate(timeout=30)
    assert name not in listed(address) and staging not in listed(address)
    eventually(lambda: lock_released(address, staging), message="the killed init's session never ended")
    result = run_devshell("db", "init", "-d", name, "--admin-password", "pw")
    assert result.returncode == 0, result.stderr
    assert databases_like(address, f"{name}%") == [name]
    assert query(address, name, "SELECT count(*) FROM devshell_user") == [(1,)]
    assert run_devshell("db", "drop", name).returncode == 0


@pytest.fixture
def locked_db(address: Any, new_db: str) -> Iterator[tuple[str, Any]]:
    """A database whose one table is locked by an open transaction: a dump of it waits for the lock."""
    from devshell.db.connection import connect

    execute(address, new_db, "CREATE TABLE item (id int); INSERT INTO item VALUES (1)")
    conn = connect(address, new_db)
    with conn.cursor() as cr:
        cr.execute("LOCK TABLE item IN ACCESS EXCLUSIVE MODE")
    yield new_db, conn
    conn.close()


def start_dump(address: Any, db: str, target: Path) -> subprocess.Popen[str]:
    proc = devshell("db", "dump", "-d", db, str(target))
    waiting = """SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'
                    AND application_name = 'pg_dump'"""
    eventually(lambda: query(address, MAINTENANCE, waiting, (db,)) == [(1,)], timeout=30,
               message="pg_dump never waited for the lock")
    assert Path(f"{target}.part").exists()
    return proc


def test_sigterm_during_a_dump_removes_the_part_file(address: Any, locked_db: tuple[str, Any], tmp_path: Path) -> None:
    db, _lock = locked_db
    target = tmp_path / "out.dump"
    proc = start_dump(address, db, target)
    proc.send_signal(signal.SIGTERM)
    assert_one_line_error(finished(proc), 143)
    assert list(tmp_path.iterdir()) == []


def test_the_next_dump_takes_over_the_part_file_a_sigkilled_one_left(address: Any, locked_db: tuple[str, Any],
                                                                     tmp_path: Path) -> None:
    db, lock = locked_db
    target = tmp_path / "out.dump"
    proc = start_dump(address, db, target)
    proc.kill()
    proc.communicate(timeout=30)
    assert [path.name for path in tmp_path.iterdir()] == ["out.dump.part"]
    lock.rollback()
    result = run_devshell("db", "dump", "-d", db, str(target))
    assert result.returncode == 0, result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["out.dump"]


def test_a_dump_refuses_a_part_file_another_dump_is_writing(address: Any, locked_db: tuple[str, Any],
                                                           tmp_path: Path) -> None:
    db, _lock = locked_db
    target = tmp_path / "out.dump"
    first = start_dump(address, db, target)
    try:
        line = assert_one_line_error(run_devshell("db", "dump", "-d", db, str(target)), 1)
        assert "another dump is writing" in line
    finally:
        first.kill()
        first.communicate(timeout=30)


SCRATCH_HOLDER = """
import sys, time
from devshell.scratch import scratch_folder
with scratch_folder("devshell-deploy-", sys.argv[1]) as folder:
    (folder / "module").mkdir()
    print(folder, flush=True)
    time.sleep(600)
"""


def test_scratch_folders_of_killed_processes_are_removed_by_the_next_one(tmp_path: Path) -> None:
    """The deploy route's staging folder (/tmp/devshell-deploy-*): a SIGKILLed server's is removed next time."""
    from devshell.scratch import scratch_folder

    holders = [subprocess.Popen([sys.executable, "-c", SCRATCH_HOLDER, str(tmp_path)], stdout=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        killed, alive = [Path(holder.stdout.readline().strip()) for holder in holders]  # type: ignore[union-attr]
        holders[0].kill()
        holders[0].wait(30)
        assert killed.is_dir() and alive.is_dir()
        with scratch_folder("devshell-deploy-", tmp_path) as mine:
            assert not killed.exists()  # its process is gone: removed
            assert alive.is_dir()  # still in use: kept
            assert mine.is_dir()
        assert not mine.exists()
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(30)
            if holder.stdout is not None:
                holder.stdout.close()


def test_a_server_killed_during_a_deploy_leaves_a_folder_that_the_next_deploy_removes(address: Any,
                                                                                      tmp_path: Path) -> None:
    from conftest import served_database
    from devshell.users import hash_password
    from server_process import ADMIN_PASSWORD, ServerProcess

    private_tmp = tmp_path / "tmp"  # the server's temp dir: its deploy folders are the only ones there
    private_tmp.mkdir()
    modules = tmp_path / "modules"
    slow = slow_module(modules) / "slow_mod"
    quick = modules / "quick_mod"
    (quick / "data").mkdir(parents=True)
    (quick / "__manifest__.py").write_text('{"name": "quick_mod", "version": "1.0", "data": ["data/q.sql"]}\n')
    (quick / "data" / "q.sql").write_text("CREATE TABLE quick_row (id int);\n")
    (quick / "__init__.py").write_text("")
    server_env = {"TMPDIR": str(private_tmp), "DEVSHELL_DEPLOY_PASSWORD": hash_password("deploy-pw")}
    client_env = {"DEVSHELL_PASSWORD": ADMIN_PASSWORD, "DEVSHELL_DEPLOY_PASSWORD": "deploy-pw"}
    with served_database(address, "deploykill") as db:
        server = ServerProcess("-d", db, env=server_env).wait_ready()
        try:
            client = devshell("deploy", str(slow), server.url, "-d", db, env=client_env)
            sleeping = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query LIKE '%%pg_sleep%%'"
            eventually(lambda: query(address, MAINTENANCE, sleeping, (db,)) == [(1,)], timeout=60,
                       message="the deploy never reached the slow data file:\n" + server.output)
            left = list(private_tmp.glob("devshell-deploy-*"))
            assert len(left) == 1 and (left[0] / "slow_mod" / "__manifest__.py").is_file()
            server.proc.kill()
            server.wait()
            assert finished(client).returncode == 1
        finally:
            server.stop()
        assert [path.name for path in private_tmp.glob("devshell-deploy-*")] == [left[0].name]  # SIGKILL's leftover
        server = ServerProcess("-d", db, env=server_env).wait_ready()
        try:
            result = run_devshell("deploy", str(quick), server.url, "-d", db, env=client_env)
            assert result.returncode == 0, result.stderr + server.output
        finally:
            server.stop()
    assert list(private_tmp.glob("devshell-deploy-*")) == []
