"""The printed reverse-proxy config, in a real nginx in front of prefork mode."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Iterator

import pytest
import requests

from conftest import run_devshell
from nginx_front import NginxFront, nginx_binary
from process_tree import longpolling_url, prefork, publish
from server_process import DEBUG_LOG, ServerProcess


@pytest.fixture(scope="module")
def server(db: str) -> Iterator[ServerProcess]:
    server = prefork("-d", db, "--workers", "2", env=DEBUG_LOG)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def proxy(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx on a free loopback port with the config devshell prints, owned by this test."""
    binary = nginx_binary()
    root = tmp_path_factory.mktemp("nginx")
    http_port = server.url.rsplit(":", 1)[1]
    gevent_port = longpolling_url(server).rsplit(":", 1)[1]
    printed = run_devshell("server", "--print-proxy-config", "nginx", "--http-port", http_port,
                           "--gevent-port", gevent_port)
    assert printed.returncode == 0, printed.stderr
    assert "listen 80;" in printed.stdout
    front = NginxFront(binary, printed.stdout, root)
    try:
        yield front.url
    finally:
        front.stop()


def test_the_printed_config_needs_fixed_ports() -> None:
    result = run_devshell("server", "--print-proxy-config", "nginx", "--http-port", "0")
    assert result.returncode == 2
    assert "--print-proxy-config needs fixed ports" in result.stderr


def test_requests_reach_the_http_workers(proxy: str) -> None:
    health = requests.get(proxy + "/web/health", timeout=5).json()
    assert health["mode"] == "prefork"
    assert requests.get(proxy + "/webtest/hello", timeout=5).text == "hello"


def test_a_poll_through_nginx_receives_a_bus_message(proxy: str, server: ServerProcess, db: str) -> None:
    channel = f"ngx-{uuid.uuid4().hex[:6]}"
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(requests.post(
        proxy + "/longpolling/poll", json={"channels": [channel], "last": 0, "timeout": 20}, timeout=30)))
    waiter.start()
    server.wait_for_polls(channel)
    assert not got  # waiting in the gevent process, not answered at once by an HTTP worker
    committed = publish(db, channel, {"via": "nginx"})
    waiter.join(10)
    assert time.monotonic() - committed < 1.0
    response = got[0]
    assert response.status_code == 200 and [m["message"] for m in response.json()] == [{"via": "nginx"}]
    assert "X-Devshell-Longpolling-Port" not in response.headers  # a long poll, not an HTTP worker's short one


def test_a_websocket_through_nginx_receives_a_bus_message(proxy: str, db: str) -> None:
    from realtime_client import BusSocket

    channel = f"ngx-{uuid.uuid4().hex[:6]}"
    client = BusSocket(proxy, db)
    try:
        client.subscribe([channel])
        publish(db, channel, {"via": "nginx", "on": "a websocket"})
        assert client.receive()["message"] == {"via": "nginx", "on": "a websocket"}
    finally:
        client.close()
