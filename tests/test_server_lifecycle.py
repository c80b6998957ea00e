"""The threaded server as a process: signals, restart, reload, pidfile, port, and in-process use."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import run_devshell
from server_process import DEBUG_LOG, SERVER_ADDONS, ServerProcess


def slow_request(url: str, seconds: float, into: list) -> threading.Thread:  # type: ignore[type-arg]
    def run() -> None:
        try:
            response = requests.get(url + f"/webtest/slow?seconds={seconds}", timeout=30)
            into.append((response.status_code, response.text))
        except requests.RequestException as exc:
            into.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_sigterm_finishes_the_request_in_flight(db: str) -> None:
    server = ServerProcess("-d", db).wait_ready()
    try:
        results: list = []  # type: ignore[type-arg]
        request = slow_request(server.url, 1.5, results)
        server.wait_for_line("webtest slow: sleeping 1.5")
        server.signal(signal.SIGTERM)
        server.wait_for_line("not accepting connections any more; 1 in flight")
        with pytest.raises(requests.ConnectionError):  # no new connections meanwhile
            requests.get(server.url + "/web/health", timeout=2)
        request.join(10)
        assert results == [(200, "slow done")]
        assert server.wait(10) == 0
    finally:
        server.stop()


def test_sigterm_answers_waiting_polls_at_once(db: str) -> None:
    server = ServerProcess("-d", db, env=DEBUG_LOG).wait_ready()
    try:
        answers: list = []  # type: ignore[type-arg]
        poller = threading.Thread(target=lambda: answers.append(requests.post(
            server.url + "/longpolling/poll", json={"channels": ["idle"], "last": 0, "timeout": 30}, timeout=40)))
        poller.start()
        server.wait_for_polls("idle")
        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        poller.join(10)
        assert answers[0].status_code == 200 and answers[0].json() == []
        assert time.monotonic() - signalled < 2  # not at the poll's 30 s timeout
        assert server.wait(10) == 0
    finally:
        server.stop()


def test_a_second_signal_forces_the_stop(db: str) -> None:
    server = ServerProcess("-d", db).wait_ready()
    try:
        results: list = []  # type: ignore[type-arg]
        request = slow_request(server.url, 20, results)
        server.wait_for_line("webtest slow: sleeping 20")
        server.signal(signal.SIGTERM)
        server.wait_for_line("stopping")
        forced_at = time.monotonic()
        server.signal(signal.SIGINT)
        assert server.wait(5) == 1
        assert time.monotonic() - forced_at < 2
        request.join(10)
        assert isinstance(results[0], requests.RequestException)
    finally:
        server.stop()


def test_pidfile_refuses_a_second_server(db: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "run" / "devshell.pid"
    pidfile.parent.mkdir()  # a pidfile's folder must exist (a typo must not create folders: issue 14)
    first = ServerProcess("-d", db, "--pidfile", str(pidfile)).wait_ready()
    try:
        assert pidfile.read_text().strip() == str(first.proc.pid)
        second = ServerProcess("-d", db, "--pidfile", str(pidfile))
        assert second.wait(20) == 1
        assert f"already running with pid {first.proc.pid}" in second.output
        assert "Traceback" not in second.output
        second.stop()
        first.signal(signal.SIGTERM)
        assert first.wait(10) == 0
        assert not pidfile.exists()
    finally:
        first.stop()


def test_a_port_in_use_is_one_clear_line(db: str) -> None:
    first = ServerProcess("-d", db).wait_ready()
    try:
        port = first.url.rsplit(":", 1)[1]
        result = run_devshell("server", "--http-port", port, "--max-cron-threads", "0", timeout=30)
        assert result.returncode == 1
        assert f"port {port} on 127.0.0.1 is in use" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        first.stop()


def test_sighup_restarts_in_place(db: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "devshell.pid"
    server = ServerProcess("-d", db, "--pidfile", str(pidfile)).wait_ready()
    try:
        before = len(server.lines)
        server.signal(signal.SIGHUP)
        server.wait_for_line(r"serving http://", start=before)
        health = requests.get(server.url + "/web/health", timeout=5).json()  # same port: the socket was handed over
        assert health["pid"] == server.proc.pid
        assert pidfile.read_text().strip() == str(server.proc.pid)
        assert server.proc.poll() is None
    finally:
        server.stop()
    assert not pidfile.exists()


def test_dev_reload_restarts_on_module_changes(db: str, tmp_path: Path) -> None:
    addons = tmp_path / "addons"
    shutil.copytree(SERVER_ADDONS, addons)
    server = ServerProcess("-d", db, "--addons-path", str(addons), "--dev", "reload").wait_ready()
    try:
        assert requests.get(server.url + "/webtest/hello").text == "hello"
        boom = requests.get(server.url + "/webtest/boom", headers={"Accept": "application/json"})
        assert boom.status_code == 500  # with --dev, errors carry their traceback
        assert "RuntimeError: webtest exploded on purpose" in boom.json()["error"]["traceback"]
        before = len(server.lines)
        code = addons / "webtest" / "__init__.py"
        code.write_text(code.read_text().replace('return "hello"', 'return "hello again"'))
        server.wait_for_line(r"serving http://", start=before)
        assert requests.get(server.url + "/webtest/hello").text == "hello again"
    finally:
        server.stop()


def test_impossible_mode_and_bad_flags_are_usage_errors() -> None:
    result = run_devshell("server", "--mode", "gevent", "--workers", "2", "--http-port", "0")
    assert result.returncode == 2
    assert "--workers 2 runs HTTP worker processes, which only prefork mode has" in result.stderr
    result = run_devshell("server", "--dev", "teleport")
    assert result.returncode == 2
    assert "unknown developer feature" in result.stderr
    result = run_devshell("server", "--http-port", "0", env={"PGUSER": "postgres", "PGHOST": "/nonexistent"})
    assert result.returncode == 2
    assert "refusing to use the database user 'postgres'" in result.stderr


def test_devshell_alone_runs_the_server() -> None:
    server = ServerProcess(command=[sys.executable, "-m", "devshell"],
                           env={"DEVSHELL_HTTP_PORT": "0", "DEVSHELL_MAX_CRON_THREADS": "0"})
    try:
        server.wait_ready()
        assert requests.get(server.url + "/web/health").json()["mode"] == "threaded"
    finally:
        server.stop()


def test_in_process_start_and_stop_from_a_thread(db: str) -> None:
    from devshell.config import load_config
    from devshell.server import make_server

    config = load_config(overrides={"http_port": 0, "max_cron_threads": 1, "db_name": db,
                                    "addons_path": [str(SERVER_ADDONS)]})
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    baseline = threading.active_count()
    box: dict = {}  # type: ignore[type-arg]

    def run() -> None:
        server = make_server(config)
        started_at = time.monotonic()
        server.start()
        box["ready"] = time.monotonic() - started_at
        box["server"] = server

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(20)
    server = box["server"]
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/"
    assert requests.get(server.url + "webtest/hello").text == "hello"
    assert requests.get(server.url + "web/health").json()["pid"] == os.getpid()
    stopped_at = time.monotonic()
    assert server.stop(5) is True
    assert time.monotonic() - stopped_at < 3  # nothing in flight: it does not wait out the 5 s grace period
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "web/health", timeout=2)
    assert {number: signal.getsignal(number) for number in handlers} == handlers
    deadline = time.monotonic() + 5
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == baseline, [t.name for t in threading.enumerate()]
