"""gevent mode as a real process: patched first, cooperative database, long polling, NODELAY, watchdog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from conftest import eventually, query
from process_tree import alive, children, publish, wait_gone
from server_process import DEBUG_LOG, SERVER_ADDONS, ServerProcess, started


def gevent_server(*args: str) -> ServerProcess:
    return ServerProcess("--mode", "gevent", "--gevent-port", "0", *args)


@pytest.fixture(scope="module")
def server(db: str) -> Iterator[ServerProcess]:
    yield from started("--mode", "gevent", "--gevent-port", "0", "-d", db, "--limit-time-real", "3", env=DEBUG_LOG)


def test_health_in_the_same_process_patched_first(server: ServerProcess) -> None:
    health = requests.get(server.url + "/web/health", timeout=5).json()
    assert health == {"status": "ok", "mode": "gevent", "pid": server.proc.pid}  # re-executed in place
    cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert b"devshell.server.modes.gevent_entry" in cmdline  # the entry point whose first act is monkey-patching


def test_accepted_sockets_have_tcp_nodelay(server: ServerProcess) -> None:
    with requests.Session() as session:  # keep-alive: the same accepted socket twice
        for _ in range(2):
            assert session.get(server.url + "/webtest/nodelay", timeout=5).json() == {"nodelay": 1}


def test_a_bus_message_reaches_a_waiting_poll_within_a_second(server: ServerProcess, db: str) -> None:
    channel = f"gev-{uuid.uuid4().hex[:6]}"
    got: list[list[dict[str, Any]]] = []
    waiter = threading.Thread(target=lambda: got.append(requests.post(
        server.url + "/longpolling/poll", json={"channels": [channel], "last": 0, "timeout": 20}, timeout=30)))
    waiter.start()
    server.wait_for_polls(channel)
    assert not got
    committed = publish(db, channel, {"text": "hi"})
    waiter.join(10)
    assert time.monotonic() - committed < 1.0
    assert [m["message"] for m in got[0].json()] == [{"text": "hi"}]


def test_a_slow_query_blocks_only_its_own_request(server: ServerProcess, db: str, address: Any) -> None:
    results: list[Any] = []
    slow = threading.Thread(target=lambda: results.append(requests.get(server.url + "/webtest/sqlsleep?seconds=2",
                                                                      timeout=10)))
    slow.start()
    eventually(lambda: query(address, db, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                                          "state = 'active' AND query LIKE 'SELECT pg_sleep%%'", (db,))[0][0],
               message="the slow query never started")
    assert requests.get(server.url + "/webtest/hello", timeout=5).text == "hello"
    assert slow.is_alive() and not results  # answered while the query sleeps: psycopg2 waits through gevent
    slow.join(10)
    assert results[0].text == "slept"


def test_many_idle_polls_do_not_hold_up_other_requests(server: ServerProcess) -> None:
    channel = f"idle-{uuid.uuid4().hex[:6]}"
    answers: list[int] = []

    def wait() -> None:
        response = requests.post(server.url + "/longpolling/poll",
                                 json={"channels": [channel], "last": 0, "timeout": 2}, timeout=15)
        answers.append(response.status_code)

    pollers = [threading.Thread(target=wait) for _ in range(100)]
    for poller in pollers:
        poller.start()
    server.wait_for_polls(channel, count=100)
    assert requests.get(server.url + "/web/health", timeout=5).status_code == 200
    assert answers == []  # answered while all the polls are still held
    for poller in pollers:
        poller.join(15)
    assert answers == [200] * 100


def test_a_request_past_limit_time_real_is_interrupted(server: ServerProcess) -> None:
    start = len(server.lines)
    results: list[Any] = []
    slow = threading.Thread(target=lambda: results.append(requests.get(server.url + "/webtest/slow?seconds=20",
                                                                      timeout=30)))
    slow.start()
    server.wait_for_line(r"webtest slow: sleeping 20", start=start)
    assert requests.get(server.url + "/webtest/hello", timeout=5).text == "hello"  # the others go on
    slow.join(10)
    assert results[0].status_code == 503
    found = server.wait_for_line(r"ran for more than limit_time_real \(3 s\)", start=start)
    assert found
    server.wait_for_line(r"in slow", start=start)  # the stack of the interrupted request was logged


def test_sigterm_finishes_the_request_in_flight(db: str) -> None:
    server = gevent_server("-d", db).wait_ready()
    try:
        results: list[Any] = []
        request = threading.Thread(target=lambda: results.append(
            requests.get(server.url + "/webtest/slow?seconds=1.5", timeout=10)))
        request.start()
        server.wait_for_line(r"webtest slow: sleeping 1.5")
        server.signal(signal.SIGTERM)
        server.wait_for_line("not accepting connections any more; 1 in flight")
        request.join(10)
        assert results[0].text == "slow done"
        assert server.wait(10) == 0
    finally:
        server.stop()


@pytest.mark.parametrize("mode", [[], ["--mode", "gevent"], ["--workers", "2"]], ids=["threaded", "gevent", "prefork"])
def test_every_mode_stops_when_its_parent_dies(mode: list[str], db: str, tmp_path: Path) -> None:
    """The contract of a server started by another process: DEVSHELL_PARENT_PID names that parent."""
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "devshell", "server", *mode, "--gevent-port", "0", "--http-port", "0",
               "--max-cron-threads", "0", "--addons-path", str(SERVER_ADDONS), "-d", db]
    parent_code = ("import os, subprocess, sys\n"
                   f"log = open({str(log)!r}, 'w')\n"
                   "env = dict(os.environ, DEVSHELL_PARENT_PID=str(os.getpid()))\n"
                   "child = subprocess.Popen(sys.argv[1:], stdout=log, stderr=subprocess.STDOUT, env=env)\n"
                   "print(child.pid, flush=True)\n"
                   "child.wait()\n")
    parent = subprocess.Popen([sys.executable, "-c", parent_code, *command], stdout=subprocess.PIPE, text=True)
    pid, tree = 0, []
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        while "serving http://" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "serving http://" in log.read_text()
        tree = children(pid)  # prefork: gunicorn, the gevent process
        parent.kill()
        parent.wait(5)
        assert wait_gone(pid, 10), log.read_text()
        assert f"stopping: parent process {parent.pid} is gone" in log.read_text()
        assert all(wait_gone(child, 10) for child in tree)
    finally:
        parent.kill()
        parent.wait(5)
        parent.stdout.close()  # type: ignore[union-attr]
        for leftover in [pid, *tree]:
            if leftover and alive(leftover):
                os.kill(leftover, signal.SIGKILL)


def test_memory_over_limit_memory_soft_stops_it(db: str) -> None:
    server = gevent_server("-d", db, "--limit-memory-soft", "1000000").wait_ready()
    try:
        assert server.wait(10) == 0
        assert "is over limit_memory_soft" in server.output
    finally:
        server.stop()
