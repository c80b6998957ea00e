"""`devshell.start_server()` handles: in-process threaded servers, child-process servers, the registry."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from server_process import SERVER_ADDONS

import devshell
from devshell.errors import UsageError
from devshell.server.background.handle import PortInUseError, ServerHandle
from devshell.server.background.ports import listening_ports


@pytest.fixture(autouse=True)
def stop_servers() -> Iterator[None]:
    yield
    devshell.stop_all()


def options(**extra: object) -> dict[str, object]:
    return {"addons_path": [str(SERVER_ADDONS)], "max_cron_threads": 0, **extra}


def refused(url: str) -> bool:
    try:
        requests.get(url + "web/health", timeout=2)
    except requests.ConnectionError:
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def wait_until(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- threaded, in this process -------------------------------------------------------------------

def test_threaded_handle_serves_in_this_process(db: str) -> None:
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    srv = devshell.start_server(db=db, **options())
    assert (srv.mode, srv.name, srv.pid, srv.status()) == ("threaded", "threaded", os.getpid(), "running")
    assert srv.port > 0 and srv.url == f"http://127.0.0.1:{srv.port}/"
    assert requests.get(srv.url + "web/health").json() == {"status": "ok", "mode": "threaded", "pid": os.getpid()}
    assert requests.get(srv.url + "webtest/hello").text == "hello"
    assert devshell.servers() == [srv]
    html = srv._repr_html_()
    assert f'href="{srv.url}"' in html and "running" in html
    assert repr(srv).startswith("<ServerHandle 'threaded' threaded http://127.0.0.1:")
    assert {number: signal.getsignal(number) for number in handlers} == handlers  # no signal handlers
    assert srv.stop() is True
    assert srv.status() == "stopped" and "stopped" in srv._repr_html_()
    assert devshell.servers() == []
    assert refused(srv.url)
    logs = str(srv.logs(50))
    assert f"serving {srv.url}" in logs and '"GET /webtest/hello HTTP/1.1" 200' in logs
    assert srv.logs(2) == srv.logs(50)[-2:]


def test_fifty_cycles_leak_no_thread_fd_or_socket(db: str) -> None:
    def settled() -> tuple[int, int, set[int]]:
        return threading.active_count(), fd_count(), listening_ports()

    warm = devshell.start_server(db=db, addons_path=[str(SERVER_ADDONS)], max_cron_threads=2)
    requests.get(warm.url + "web/health").close()
    warm.stop()  # the first start pays for imports and the embedded cluster check
    baseline = settled()
    ready: list[float] = []
    stopped: list[float] = []
    for _ in range(50):
        started = time.perf_counter()
        srv = devshell.start_server(db=db, addons_path=[str(SERVER_ADDONS)], max_cron_threads=2)
        ready.append(time.perf_counter() - started)
        with requests.get(srv.url + "web/health") as response:
            assert response.status_code == 200
        started = time.perf_counter()
        assert srv.stop() is True
        stopped.append(time.perf_counter() - started)
    assert wait_until(lambda: settled() == baseline), (baseline, settled(), [t.name for t in threading.enumerate()])
    print(f"\nthreaded handle, 50 cycles: ready median {statistics.median(ready) * 1000:.1f} ms, "
          f"max {max(ready) * 1000:.1f} ms; stop median {statistics.median(stopped) * 1000:.1f} ms, "
          f"max {max(stopped) * 1000:.1f} ms")
    # speed is the benchmark's business; here: no start or stop waits out a timeout
    assert max(ready) < 5 and max(stopped) < 5


def test_starting_again_under_a_name_replaces(db: str) -> None:
    first = devshell.start_server(db=db, name="cell", **options())
    second = devshell.start_server(db=db, name="cell", **options())
    assert first.status() == "stopped" and refused(first.url)
    assert second.status() == "running" and requests.get(second.url + "web/health").ok
    assert devshell.servers() == [second]
    other = devshell.start_server(db=db, name="other", **options())
    assert devshell.servers() == [second, other]
    assert [handle.name for handle in devshell.stop_all()] == ["cell", "other"]
    assert devshell.servers() == [] and refused(other.url)


def test_starting_on_a_port_of_ours_replaces(db: str) -> None:
    port = free_port()
    first = devshell.start_server(db=db, port=port, name="one", **options())
    second = devshell.start_server(db=db, port=port, name="two", **options())
    assert first.status() == "stopped"
    assert second.port == port and requests.get(second.url + "web/health").ok
    assert devshell.servers() == [second]


def test_a_foreign_process_on_the_port_is_named() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import socket, sys, time
            sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen()
            print(sock.getsockname()[1], flush=True); time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        with pytest.raises(PortInUseError) as raised:
            devshell.start_server(port=port, max_cron_threads=0)
        message = str(raised.value)
        assert f"port {port} is in use by pid {holder.pid}: {sys.executable} -c" in message
        assert "port=0 picks a free one" in message
        assert devshell.servers() == []
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]


def test_a_socket_of_this_process_is_named_too() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"pid {os.getpid()} \(this process\)"):
            devshell.start_server(port=port, max_cron_threads=0)


def test_restart_keeps_the_port_and_with_stops(db: str) -> None:
    with devshell.start_server(db=db, **options()) as srv:
        port = srv.port
        assert srv.restart() is srv
        assert srv.port == port and srv.wait_ready() is srv
        assert requests.get(srv.url + "web/health").ok
        assert devshell.servers() == [srv]
    assert srv.status() == "stopped" and refused(srv.url)
    with pytest.raises(devshell.DevshellError, match="call .restart"):
        srv.wait_ready()


def test_options_are_configuration_keys(db: str) -> None:
    srv = devshell.start_server(dbfilter=f"^{db}$", **options())
    assert srv.config["dbfilter"] == f"^{db}$" and srv.config["max_cron_threads"] == 0
    assert requests.get(srv.url + "web/database/list").json() == [db]
    srv.stop()
    with pytest.raises(UsageError, match="did you mean 'max_cron_threads'"):
        devshell.start_server(max_cron_thread=0)
    with pytest.raises(UsageError, match="unknown server mode 'fast'"):
        devshell.start_server("fast")
    with pytest.raises(UsageError, match="needs mode='prefork'"):
        devshell.start_server(workers=2)


def test_logs_stay_out_of_the_terminal(db: str, capfd: pytest.CaptureFixture[str]) -> None:
    http = logging.getLogger("devshell.http")
    before = (http.propagate, http.level)
    srv = devshell.start_server(db=db, **options())
    requests.get(srv.url + "webtest/hello").close()
    requests.get(srv.url + "no/such/page").close()
    srv.stop()
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert '"GET /no/such/page HTTP/1.1" 404' in str(srv.logs())
    assert (http.propagate, http.level) == before  # the capture ends with the last server


def test_two_servers_keep_their_own_access_lines(db: str) -> None:
    one = devshell.start_server(db=db, name="one", **options())
    two = devshell.start_server(db=db, name="two", **options())
    requests.get(one.url + "webtest/hello?from=one").close()
    requests.get(two.url + "webtest/hello?from=two").close()
    devshell.stop_all()
    assert "from=one" in str(one.logs()) and "from=two" not in str(one.logs())
    assert "from=two" in str(two.logs()) and "from=one" not in str(two.logs())


def test_servers_are_stopped_at_interpreter_exit(db: str, tmp_path: Path) -> None:
    script = tmp_path / "exit.py"
    script.write_text(textwrap.dedent(f"""
        import atexit, devshell
        handles = []
        # registered first, so it runs after devshell's own exit handler (atexit is last-in, first-out)
        atexit.register(lambda: print("at exit:", [h.status() for h in handles], devshell.servers(), flush=True))
        handles.append(devshell.start_server(db={db!r}, max_cron_threads=1))
        print("started", handles[0].url, flush=True)
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "at exit: ['stopped'] []" in result.stdout
    assert result.stderr == ""


# -- child processes ---------------------------------------------------------------------------------

def test_a_child_server_hands_over_its_port_and_dies_with_its_parent(db: str, tmp_path: Path) -> None:
    """The child runner on its own (threaded as a child): ready line, logs, SIGTERM, PR_SET_PDEATHSIG."""
    from devshell.config import load_config
    from devshell.server.background.child_process import ChildServer
    from devshell.server.background.handle import LogBuffer

    config = load_config().with_overrides({"db_name": db, "http_port": 0, "max_cron_threads": 0,
                                           "addons_path": [str(SERVER_ADDONS)]}, source="start_server")
    child = ChildServer(config, LogBuffer())
    child.start(30)
    try:
        assert child.port > 0 and child.url == f"http://127.0.0.1:{child.port}/" and child.state() == "running"
        assert requests.get(child.url + "web/health").json()["pid"] == child.pid != os.getpid()
        assert any("serving http://" in line for line in child.sink.tail(20))
    finally:
        assert child.stop(10) is True
    assert child.state() == "stopped" and refused(child.url)

    # without DEVSHELL_PARENT_PID the child's own watchdog is off: only PR_SET_PDEATHSIG can stop it
    parent = spawn_parent(tmp_path, f"""
        from devshell.config import load_config
        from devshell.server.background.child_process import PARENT_PID_ENV, ChildServer
        from devshell.server.background.handle import LogBuffer

        class Unwatched(ChildServer):
            def environment(self):
                return {{k: v for k, v in super().environment().items() if k != PARENT_PID_ENV}}

        config = load_config().with_overrides({{"db_name": {db!r}, "http_port": 0, "max_cron_threads": 0}},
                                              source="start_server")
        child = Unwatched(config, LogBuffer())
        child.start(30)
        print(child.pid, child.url, flush=True)
    """)
    assert_child_dies_with(parent)


def test_a_child_that_cannot_start_is_an_exception_with_its_error(db: str) -> None:
    from devshell.config import load_config
    from devshell.errors import DevshellError
    from devshell.server.background.child_process import ChildServer
    from devshell.server.background.handle import LogBuffer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = load_config().with_overrides({"http_port": port, "max_cron_threads": 0}, source="start_server")
        child = ChildServer(config, LogBuffer())
        with pytest.raises(DevshellError, match=rf"exited \(code 1\) before it was ready: .*port {port}.* in use"):
            child.start(30)
        assert child.state() == "exited with code 1"


def test_a_gevent_child_is_the_patched_entry_module_from_the_start() -> None:
    """One interpreter image per notebook gevent server: no `devshell server` that re-executes itself."""
    from devshell.config import load_config
    from devshell.server.background.child_process import ChildServer
    from devshell.server.background.handle import LogBuffer

    config = load_config().with_overrides({"mode": "gevent", "http_port": 0, "db_name": "demo"},
                                          source="start_server")
    command = ChildServer(config, LogBuffer()).command()
    assert command[:3] == [sys.executable, "-m", "devshell.server.modes.gevent_entry"]
    assert command[3:] == ["server", "--mode", "gevent", "--http-port", "0", "-d", "demo"]
    prefork = config.with_overrides({"mode": "prefork"}, source="start_server")
    assert ChildServer(prefork, LogBuffer()).command()[1:6] == ["-m", "devshell", "server", "--mode", "prefork"]


def spawn_parent(tmp_path: Path, body: str) -> subprocess.Popen[str]:
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(body) + "\nimport time\ntime.sleep(120)\n")
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def assert_child_dies_with(parent: subprocess.Popen[str]) -> None:
    """Read the child's pid and URL from *parent*, SIGKILL the parent, and see the child (and its group) go."""
    assert parent.stdout is not None and parent.stderr is not None
    try:
        line = parent.stdout.readline()
        if not line:
            parent.wait(10)
            raise AssertionError("the parent failed:\n" + parent.stderr.read())
        pid, url = int(line.split()[0]), line.split()[1]
        assert _alive(pid) and requests.get(url + "web/health", timeout=5).json()["status"] == "ok"
    finally:
        parent.kill()
        parent.wait(10)
        parent.stdout.close()
        parent.stderr.close()
    assert wait_until(lambda: not _group_alive(pid), timeout=10), f"child {pid} or its workers outlived the parent"
    assert refused(url)


def _stat(pid: int | str) -> list[str] | None:
    """State, ppid, pgrp… of a process (None when gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1].split()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _group_alive(pgid: int) -> bool:
    """Any live process in group *pgid* (the child runs in a session of its own: pgid = its pid)."""
    for entry in os.listdir("/proc"):
        fields = _stat(entry) if entry.isdigit() else None
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _mode_available(mode: str) -> bool:
    from devshell.server.modes.factory import SERVER_CLASSES

    return importlib.util.find_spec(SERVER_CLASSES[mode].partition(":")[0]) is not None


@pytest.mark.parametrize("mode, extra", [("gevent", {}), ("prefork", {"workers": 2})])
def test_gevent_and_prefork_handles(mode: str, extra: dict[str, object], db: str, tmp_path: Path) -> None:
    if not _mode_available(mode):
        pytest.skip(f"{mode} mode is not there yet (issue 7)")
    srv = devshell.start_server(mode, db=db, **options(**extra))
    assert isinstance(srv, ServerHandle) and srv.mode == mode and srv.status() == "running"
    assert srv.pid is not None and srv.pid != os.getpid() and srv.port > 0
    health = requests.get(srv.url + "web/health", timeout=10).json()
    assert health["status"] == "ok" and health["mode"] == mode
    assert requests.get(srv.url + "webtest/hello", timeout=10).text == "hello"
    assert any("serving http://" in line for line in srv.logs(100))
    pid, port = srv.pid, srv.port
    assert srv.restart() is srv and srv.port == port and srv.pid != pid
    assert requests.get(srv.url + "web/health", timeout=10).json()["status"] == "ok"
    pid = srv.pid
    assert srv.stop(20) is True, "\n".join(srv.logs(80))  # the log says which child held the stop up
    assert srv.status() == "stopped" and not _group_alive(pid) and refused(srv.url)

    with socket.socket() as sock:  # a busy port: the child's error, naming the holder
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"port {port} is in use by pid {os.getpid()} \(this process\)"):
            devshell.start_server(mode, db=db, port=port, **options(**extra))
    assert devshell.servers() == []

    parent = spawn_parent(tmp_path, f"""
        import devshell
        srv = devshell.start_server({mode!r}, db={db!r}, max_cron_threads=0, **{extra!r})
        print(srv.pid, srv.url, flush=True)
    """)
    assert_child_dies_with(parent)
