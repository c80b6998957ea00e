"""The embedded PostgreSQL cluster, and the same cluster reached over TCP as an "external" server."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from conftest import DATA_DIR, assert_one_line_error, run_devshell
from devshell.checks import is_root
from devshell.db.embedded import EmbeddedCluster



def process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A folder directly under the temp dir that the cluster's account can enter.

    Every cluster started under it is stopped afterwards, wherever its root ended up.
    """
    folder = Path(tempfile.mkdtemp(prefix="devshell-embedded-"))
    os.chmod(folder, 0o755)
    yield folder
    for data_dir in [path.parent for path in folder.rglob(".pg.lock")]:
        leftover = EmbeddedCluster(data_dir)
        if leftover.status().running:
            leftover.stop()
        if folder not in leftover.root.parents:
            shutil.rmtree(leftover.root, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


# -- the session's cluster -----------------------------------------------------------------------

def test_session_cluster_runs_unprivileged_with_its_socket_in_the_data_dir(cluster: EmbeddedCluster) -> None:
    status = cluster.status()
    assert status.running and status.pid and status.port
    expected_uid = pwd.getpwnam("postgres").pw_uid if is_root() else os.geteuid()
    assert process_uid(status.pid) == expected_uid != 0
    assert cluster.pgdata.stat().st_uid == expected_uid
    assert cluster.root == DATA_DIR / "pg"
    assert DATA_DIR in cluster.socket_dir.parents
    socket_file = cluster.socket_dir / f".s.PGSQL.{status.port}"
    assert stat.S_ISSOCK(socket_file.stat().st_mode)
    assert cluster.address().host == str(cluster.socket_dir)


def test_server_status_and_a_second_start(cluster: EmbeddedCluster) -> None:
    status = cluster.status()
    result = run_devshell("db", "server", "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"embedded PostgreSQL: running, pid {status.pid}, port {status.port} ({cluster.root})",
        f"socket: {cluster.socket_dir}", f"port: {status.port}", "user: devshell"]
    line = assert_one_line_error(run_devshell("db", "server", "start"), 1)
    assert "already running" in line and str(status.pid) in line
    assert cluster.status() == status  # untouched


def test_server_commands_refuse_an_external_server(cluster: EmbeddedCluster) -> None:
    line = assert_one_line_error(run_devshell("db", "server", "status", env={"PGHOST": "127.0.0.1"}), 2)
    assert "external server is configured" in line and "PGHOST" in line


# -- clusters of their own -----------------------------------------------------------------------

def test_cluster_started_on_demand_keeps_its_data(scratch_dir: Path) -> None:
    env = {"DEVSHELL_DATA_DIR": str(scratch_dir / "data")}
    stopped = run_devshell("db", "server", "status", env=env)
    assert stopped.returncode == 1 and "stopped" in stopped.stdout

    # two first runs at once: one initialises and starts the cluster, both use it
    racers = [subprocess.Popen([sys.executable, "-m", "devshell", "db", "list"], env={**os.environ, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        assert out == "" and err == ""
    cluster = EmbeddedCluster(scratch_dir / "data")
    assert cluster.root == scratch_dir / "data" / "pg" and cluster.status().running

    assert run_devshell("db", "create", "keepme", env=env).returncode == 0
    stop = run_devshell("db", "server", "stop", env=env)
    assert (stop.returncode, stop.stdout.strip()) == (0, "embedded PostgreSQL: stopped")
    status = run_devshell("db", "server", "status", env=env)
    assert status.returncode == 1 and status.stdout.startswith("embedded PostgreSQL: stopped")
    again = run_devshell("db", "server", "stop", env=env)
    assert (again.returncode, again.stdout.strip()) == (0, "embedded PostgreSQL: was not running")

    start = run_devshell("db", "server", "start", env=env)
    assert start.returncode == 0 and start.stdout.startswith("embedded PostgreSQL: running"), start.stderr
    listed = run_devshell("db", "list", env=env)
    assert listed.stdout.splitlines() == ["keepme"]


def test_data_dir_under_a_regular_file(scratch_dir: Path) -> None:
    blocker = scratch_dir / "a-file"
    blocker.write_text("not a folder")
    line = assert_one_line_error(run_devshell("db", "list", env={"DEVSHELL_DATA_DIR": str(blocker / "data")}), 1)
    assert f"the data dir {blocker / 'data'} is not writable" in line and "DEVSHELL_DATA_DIR" in line


def test_missing_postgresql_binaries_say_how_to_install_them(scratch_dir: Path) -> None:
    env = {"DEVSHELL_DATA_DIR": str(scratch_dir / "data"), "DEVSHELL_PG_BINDIR": "/nonexistent"}
    line = assert_one_line_error(run_devshell("db", "list", env=env), 1)
    assert "PostgreSQL server binaries not found in pg_bindir /nonexistent" in line
    assert "apt-get install postgresql" in line
    assert not (scratch_dir / "data" / "pg").exists()


@pytest.mark.skipif(not is_root(), reason="only root runs the cluster under another account")
def test_data_dir_the_cluster_account_cannot_enter(scratch_dir: Path) -> None:
    private = scratch_dir / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    data_dir = private / "data"
    env = {"DEVSHELL_DATA_DIR": str(data_dir)}
    created = run_devshell("db", "create", "in_private", env=env)
    assert created.returncode == 0, created.stderr

    cluster = EmbeddedCluster(data_dir)
    assert cluster.root.parent == Path(tempfile.gettempdir()) / "devshell-pg-postgres"
    assert cluster.status().running
    assert run_devshell("db", "list", env=env).stdout.splitlines() == ["in_private"]  # found and reused
    status = run_devshell("db", "server", "status", env=env)
    assert status.returncode == 0 and str(cluster.root) in status.stdout


# -- the session cluster as an "external" server over TCP ----------------------------------------

@pytest.fixture
def tcp_env(cluster: EmbeddedCluster) -> dict[str, str]:
    address = cluster.address(tcp=True)
    assert (address.host, address.user) == ("127.0.0.1", "devshell") and address.password and address.port
    return {"host": address.host, "port": str(address.port), "user": address.user, "password": address.password}


@pytest.mark.parametrize("prefix", ["DEVSHELL_DB_", "PG"])
def test_external_server_over_tcp(tcp_env: dict[str, str], new_db: str, prefix: str) -> None:
    env = {prefix + key.upper(): value for key, value in tcp_env.items()}
    result = run_devshell("db", "list", env=env)
    assert result.returncode == 0, result.stderr
    assert new_db in result.stdout.splitlines()
    config = run_devshell("config", "db_host", "db_password", env=env)
    assert "127.0.0.1" in config.stdout and tcp_env["password"] not in config.stdout


def test_external_server_wrong_password(tcp_env: dict[str, str]) -> None:
    env = {"PGHOST": tcp_env["host"], "PGPORT": tcp_env["port"], "PGUSER": "devshell", "PGPASSWORD": "wrong"}
    line = assert_one_line_error(run_devshell("db", "list", env=env), 1)
    assert "cannot log in to the server at 127.0.0.1" in line and "'devshell'" in line
    assert "password authentication failed" in line


def test_unreachable_server(tcp_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    env = {"DEVSHELL_DB_HOST": "127.0.0.1", "DEVSHELL_DB_PORT": str(closed_port), "DEVSHELL_DB_USER": "devshell"}
    line = assert_one_line_error(run_devshell("db", "list", env=env), 1)
    assert f"cannot reach the server at 127.0.0.1:{closed_port}: is the server running?" in line
