"""prefork mode with real processes and signals: the master, gunicorn's workers, the gevent and cron processes."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import uuid
from typing import Any, Iterator

import pytest
import requests

from conftest import run_devshell
from process_tree import (alive, children, cmdline, eventually, gevent_child, longpolling_url, prefork, publish,
                          wait_gone, workers)
from server_process import DEBUG_LOG, ServerProcess

GiB = 2**30


def get(url: str, into: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            into.append(requests.get(url, timeout=30))
        except requests.RequestException as exc:
            into.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def server(db: str) -> Iterator[ServerProcess]:
    """--workers 2 alone (prefork implied), small limits for the tests below.

    The real-time limit leaves the CPU limit room on a loaded machine (1 s of CPU can take several seconds).
    """
    server = prefork("-d", db, "--workers", "2", "--limit-time-real", "10", "--limit-time-cpu", "1",
                     "--limit-memory-soft", str(GiB), "--limit-memory-hard", str(4 * GiB), env=DEBUG_LOG)
    try:
        yield server
    finally:
        server.stop()


def test_workers_alone_imply_prefork(server: ServerProcess) -> None:
    assert requests.get(server.url + "/web/health", timeout=5).json()["mode"] == "prefork"
    assert len(workers(server)) == 2
    result = run_devshell("server", "--workers", "2", "--mode", "threaded", "--http-port", "0")
    assert result.returncode == 2 and "only prefork mode has" in result.stderr


def test_a_poll_on_the_http_port_is_handed_to_the_gevent_process(server: ServerProcess, db: str) -> None:
    """The HTTP worker passes the connection on (test_websocket.py: such a poll waits like anywhere else)."""
    channel = f"pre-{uuid.uuid4().hex[:6]}"
    publish(db, channel, "before")
    start = len(server.lines)
    response = requests.post(server.url + "/longpolling/poll", json={"channels": [channel], "last": 0,
                                                                     "timeout": 30}, timeout=10)
    assert response.status_code == 200 and [m["message"] for m in response.json()] == ["before"]
    assert "X-Devshell-Longpolling-Port" not in response.headers  # what a worker answers when it cannot hand over
    line = server.wait_for_line(r'(\d+) INFO devshell\.http: \S+ "POST /longpolling/poll HTTP/1.1" 200', start=start)
    assert int(line.group(1)) == gevent_child(server)


def test_the_gevent_process_long_polls(server: ServerProcess, db: str) -> None:
    channel = f"pre-{uuid.uuid4().hex[:6]}"
    got: list[Any] = []
    url = longpolling_url(server) + "/longpolling/poll"
    waiter = threading.Thread(target=lambda: got.append(requests.post(
        url, json={"channels": [channel], "last": 0, "timeout": 20}, timeout=30)))
    waiter.start()
    server.wait_for_polls(channel)  # in the gevent process
    committed = publish(db, channel, {"n": 1})
    waiter.join(10)
    assert time.monotonic() - committed < 1.0
    assert [m["message"] for m in got[0].json()] == [{"n": 1}]


def test_a_sigkilled_worker_is_replaced(server: ServerProcess) -> None:
    before = workers(server)
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    after = eventually(lambda: (found := workers(server)) and len(found) == 2 and victim not in found and found)
    assert set(after) - set(before)  # a new worker
    for _ in range(10):
        assert requests.get(server.url + "/webtest/hello", timeout=5).text == "hello"


def test_a_request_past_limit_time_real_kills_only_its_worker(server: ServerProcess) -> None:
    start = len(server.lines)
    slow: list[Any] = []
    thread = get(server.url + "/webtest/slow?seconds=30", slow)
    server.wait_for_line("webtest slow: sleeping 30", start=start)
    assert requests.get(server.url + "/webtest/hello", timeout=5).text == "hello"  # the other worker
    thread.join(25)
    assert slow[0].status_code == 503
    assert "limit_time_real" in slow[0].text
    server.wait_for_line(r"GET /webtest/slow\?seconds=30 ran for more than limit_time_real \(10 s\)", start=start)
    eventually(lambda: re.search(r"in slow\n\s+time\.sleep", server.output),  # the stack, dumped before the kill
               message="no stack of the slow request in the log:\n" + server.output)
    eventually(lambda: len(workers(server)) == 2)
    assert requests.get(server.url + "/webtest/hello", timeout=5).text == "hello"


def test_a_request_past_limit_time_cpu_fails_and_its_worker_goes_on(server: ServerProcess) -> None:
    before = set(workers(server))
    response = requests.get(server.url + "/webtest/busy?seconds=2.5", headers={"Accept": "application/json"},
                            timeout=15)
    assert response.status_code == 500  # the CPU limit raised in the request, like any other failure
    server.wait_for_line(r"request used more than limit_time_cpu \(1 s of CPU\): failing it")
    # the error log with the traceback follows the warning: wait for it rather than race the pipe
    server.wait_for_line(r"CpuTimeLimitExceeded: CPU time limit exceeded \(limit_time_cpu = 1 s\)")
    assert set(workers(server)) == before  # no worker was lost
    assert requests.get(server.url + "/webtest/hello", timeout=5).text == "hello"


def test_a_worker_over_the_soft_memory_limit_is_recycled_after_its_request(server: ServerProcess) -> None:
    response = requests.get(server.url + "/webtest/hog", timeout=10)
    assert response.status_code == 200  # the request itself completes
    hog = response.json()
    assert hog["after"] > GiB
    assert wait_gone(hog["pid"], 10)
    server.wait_for_line(rf"worker {hog['pid']}: virtual memory \d+ MiB is over limit_memory_soft")
    eventually(lambda: len(workers(server)) == 2)
    assert requests.get(server.url + "/webtest/hello", timeout=5).text == "hello"


def test_sigttin_adds_a_worker_and_sigttou_removes_one(server: ServerProcess) -> None:
    server.signal(signal.SIGTTIN)
    eventually(lambda: len(workers(server)) == 3, message="no third worker")
    server.signal(signal.SIGTTOU)
    eventually(lambda: len(workers(server)) == 2, message="still three workers")


def test_sighup_under_load_loses_no_request(db: str) -> None:
    server = prefork("-d", db, "--workers", "2")
    try:
        old_workers, old_gevent = workers(server), gevent_child(server)
        results: list[int | str] = []
        stop = threading.Event()

        def load() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    try:
                        results.append(session.get(server.url + "/webtest/hello", timeout=10).status_code)
                    except requests.RequestException as exc:
                        results.append(repr(exc))

        threads = [threading.Thread(target=load) for _ in range(3)]
        for thread in threads:
            thread.start()
        eventually(lambda: len(results) >= 25, message="no load before the reload")
        server.signal(signal.SIGHUP)
        eventually(lambda: (found := workers(server)) and len(found) == 2 and not set(found) & set(old_workers),
                   timeout=15, message="the workers were not replaced")
        replaced = len(results)
        eventually(lambda: len(results) >= replaced + 30, message="no load after the reload")  # on the new workers
        stop.set()
        for thread in threads:
            thread.join(15)
        assert len(results) > 50
        assert set(results) == {200}, [r for r in results if r != 200][:3]
        assert eventually(lambda: gevent_child(server) != old_gevent and alive(gevent_child(server)))
    finally:
        server.stop()


def test_sigterm_finishes_the_request_in_flight(db: str) -> None:
    server = prefork("-d", db, "--workers", "2")
    try:
        slow: list[Any] = []
        thread = get(server.url + "/webtest/slow?seconds=1.5", slow)
        server.wait_for_line("webtest slow: sleeping 1.5")
        server.signal(signal.SIGTERM)
        thread.join(10)
        assert slow[0].status_code == 200 and slow[0].text == "slow done"
        assert server.wait(15) == 0
        assert not children(server.proc.pid)
    finally:
        server.stop()


def test_children_die_with_the_master_and_cron_runs_in_a_process(db: str, address: Any) -> None:
    from devshell.db.connection import connect

    server = prefork("-d", db, "--workers", "2", "--max-cron-threads", "1")
    try:
        conn = connect(address, db, autocommit=True)
        try:
            def cron_ran() -> bool:
                with conn.cursor() as cr:
                    cr.execute("SELECT count(*) FROM webtest_tick WHERE source = 'cron'")
                    return cr.fetchone()[0] > 0

            eventually(cron_ran, message="the cron process never ran the due job:\n" + server.output)
        finally:
            conn.close()
        gevent, tree = gevent_child(server), children(server.proc.pid) + workers(server)
        assert len(tree) == 5  # gunicorn, gevent, cron, and 2 workers
        server.proc.kill()
        server.wait(5)
        assert wait_gone(gevent, 5), "the gevent process outlived its master"
        for pid in tree:
            assert wait_gone(pid, 10), f"{cmdline(pid)} outlived its master"
    finally:
        server.stop()
