"""Startup checks: UTC, the csv limit, the refused `postgres` user, the root policy, the pidfile."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import run_devshell
from devshell.checks import CSV_FIELD_SIZE_LIMIT, Pidfile, check_db_user, check_root, is_loopback, is_root
from devshell.errors import DevshellError, UsageError


def run_python(script: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_process_defaults_force_utc_and_raise_the_csv_limit() -> None:
    script = (
        "import csv, time, json\n"
        "before = (time.strftime('%z'), csv.field_size_limit())\n"
        "from devshell.checks import process_defaults\n"
        "process_defaults()\n"
        "import os\n"
        "print(json.dumps([before, (time.strftime('%z'), csv.field_size_limit()), os.environ['TZ']]))\n"
    )
    before, after, tz = json.loads(run_python(script, env={"TZ": "Asia/Tokyo"}))
    assert before == ["+0900", 131072]  # the child really started in Tokyo, with Python's csv limit
    assert after == ["+0000", CSV_FIELD_SIZE_LIMIT]
    assert tz == "UTC"  # inherited by every child process devshell starts
    assert CSV_FIELD_SIZE_LIMIT == 500 * 1024 * 1024


def test_the_cli_runs_the_process_defaults() -> None:
    script = (
        "import csv, time\n"
        "from devshell.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(time.strftime('%z'), csv.field_size_limit())\n"
    )
    output = run_python(script, env={"TZ": "Asia/Tokyo"}).splitlines()[-1]
    assert output == f"+0000 {CSV_FIELD_SIZE_LIMIT}"


def test_postgres_user_is_refused() -> None:
    with pytest.raises(UsageError, match="refusing to use the database user 'postgres'"):
        check_db_user("postgres")
    check_db_user("devshell")
    check_db_user(None)


@pytest.mark.parametrize("env", [{"PGUSER": "postgres"}, {"DEVSHELL_DB_USER": "postgres"},
                                 {"PGHOST": "127.0.0.1", "PGPORT": "1", "PGUSER": "postgres"}])
def test_postgres_user_is_refused_by_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run_devshell("db", "list", env={"DEVSHELL_DATA_DIR": str(data_dir), **env})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to use the database user 'postgres'" in lines[0]
    assert "PGUSER" in lines[0]  # says how to fix it
    from devshell.db.embedded import EmbeddedCluster

    assert not EmbeddedCluster(data_dir).root.exists()  # refused before a cluster was made for it


@pytest.mark.parametrize("interface, expected", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("", False), ("::", False), ("192.0.2.10", False),
])
def test_is_loopback(interface: str, expected: bool) -> None:
    assert is_loopback(interface) is expected


@pytest.mark.skipif(not is_root(), reason="the root branch needs root (the non-root branch is tested below)")
def test_root_policy_as_root() -> None:
    warning = check_root("127.0.0.1", allow_root=False)
    assert warning is not None and "running as root" in warning and "127.0.0.1" in warning
    with pytest.raises(DevshellError) as refused:
        check_root("0.0.0.0", allow_root=False)
    assert "refusing to run as root" in refused.value.message and "--allow-root" in refused.value.message
    assert refused.value.exit_code == 1
    with pytest.raises(DevshellError, match="all interfaces"):
        check_root("", allow_root=False)
    allowed = check_root("0.0.0.0", allow_root=True)
    assert allowed is not None and "--allow-root" in allowed


def _check_root_in_child(uid: int | None) -> list[object]:
    """check_root in a forked child, switched to *uid* first (a fresh interpreter could not
    start as another account when Python lives under /root)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: every path ends in os._exit
        code = 1
        try:
            os.close(read_fd)
            if uid is not None:
                entry = pwd.getpwuid(uid)
                os.setgroups([])
                os.setgid(entry.pw_gid)
                os.setuid(entry.pw_uid)
            results = [os.geteuid(), is_root()]
            for interface, allow in (("0.0.0.0", False), ("127.0.0.1", False), ("0.0.0.0", True)):
                results.append(check_root(interface, allow))
            os.write(write_fd, json.dumps(results).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        payload = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(payload)


def test_root_policy_as_a_normal_user() -> None:
    if is_root():
        try:
            uid: int | None = pwd.getpwnam("postgres").pw_uid
        except KeyError:
            pytest.skip("no unprivileged account (postgres) to switch to")
    else:
        uid = None
    euid, root, *warnings = _check_root_in_child(uid)
    assert euid != 0 and root is False
    assert warnings == [None, None, None]  # not root: nothing to refuse or warn about


# -- pidfile ------------------------------------------------------------------------------------

@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of a real, running child process."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_pidfile_created_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "server.pid"
    with Pidfile(path) as pidfile:
        assert path.read_text() == f"{os.getpid()}\n"
        assert pidfile.read() == os.getpid()
    assert not path.exists()


def test_pidfile_refuses_a_live_process(tmp_path: Path, live_pid: int) -> None:
    path = tmp_path / "server.pid"
    path.write_text(f"{live_pid}\n")
    with pytest.raises(DevshellError) as refused:
        Pidfile(path).create()
    assert f"already running with pid {live_pid}" in refused.value.message and str(path) in refused.value.message
    assert path.read_text() == f"{live_pid}\n"  # untouched


@pytest.mark.parametrize("content", ["{pid}\n", "garbage\n", ""])
def test_pidfile_replaces_a_stale_one(tmp_path: Path, content: str) -> None:
    path = tmp_path / "server.pid"
    path.write_text(content.format(pid=dead_pid()))
    pidfile = Pidfile(path)
    pidfile.create()
    assert path.read_text() == f"{os.getpid()}\n"
    pidfile.remove()
    assert not path.exists()


def test_pidfile_removed_only_while_it_holds_our_pid(tmp_path: Path, live_pid: int) -> None:
    path = tmp_path / "server.pid"
    pidfile = Pidfile(path)
    pidfile.create()
    path.write_text(f"{live_pid}\n")  # another process took it over (e.g. after a stale takeover)
    pidfile.remove()
    assert path.read_text() == f"{live_pid}\n"


def test_pidfile_removed_when_a_process_exits(tmp_path: Path) -> None:
    path = tmp_path / "server.pid"
    script = (
        "import os, sys\n"
        "from devshell.checks import Pidfile\n"
        f"with Pidfile({str(path)!r}):\n"
        "    print(os.getpid(), open(sys.argv[1]).read().strip())\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    pid, written = result.stdout.split()
    assert pid == written
    assert not path.exists()


def test_pidfile_in_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DevshellError, match="cannot write the pidfile .* does not exist"):
        Pidfile(blocker / "server.pid").create()


def test_pidfile_in_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    """A typo in --pidfile must not make folders (as root: anywhere); issue 14, item 16."""
    with pytest.raises(DevshellError, match="does not exist") as refused:
        Pidfile(tmp_path / "nonexistent" / "x.pid").create()
    assert refused.value.exit_code == 2
    assert not (tmp_path / "nonexistent").exists()
