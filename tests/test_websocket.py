"""Real time in every mode, prefork's HTTP port included: WebSocket at /websocket, long polls that wait,
and clients that are slow to send their request, none of which may hold a prefork HTTP worker."""

from __future__ import annotations

import datetime
import signal
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import websocket

from conftest import eventually, query, run_devshell, unique_name
from headless import Browser
from process_tree import prefork, publish, workers
from realtime_client import BusSocket, long_poll, ws_url
from server_process import DEBUG_LOG, ServerProcess
from test_start import chromium  # noqa: F401 - the session's Chromium (installed when missing)

MODES = {
    "threaded": (),
    "gevent": ("--mode", "gevent", "--gevent-port", "0"),
    "prefork": ("--workers", "2"),
}


@pytest.fixture(scope="module", params=list(MODES))
def server(request: pytest.FixtureRequest, db: str) -> Iterator[ServerProcess]:
    mode = request.param
    # debug: the server logs when a long poll starts waiting
    # -d: requests without a session or ?db= are bound to it, however many databases the cluster holds
    server = prefork("-d", db, *MODES[mode], env=DEBUG_LOG) if mode == "prefork" else \
        ServerProcess("-d", db, *MODES[mode], env=DEBUG_LOG).wait_ready()
    try:
        yield server
    finally:
        server.stop()


def channel_name() -> str:
    return f"ws-{uuid.uuid4().hex[:8]}"


def test_a_committed_message_arrives_and_a_reconnect_gets_what_was_missed(server: ServerProcess, db: str) -> None:
    channel = channel_name()
    client = BusSocket(server.url, db)
    try:
        assert client.subscribe([channel]) == {"subscribed": [channel], "last": 0}
        publish(db, channel, {"text": "live"})
        first = client.receive()
        assert first["channel"] == channel and first["message"] == {"text": "live"}
        assert first["sent"] and first["id"] > 0  # when it was sent: the bus row's time
    finally:
        client.close()
    # sent while nobody listens: the next connection, from the last id seen, gets them in order
    publish(db, channel, "second")
    publish(db, channel, {"n": 3})
    again = BusSocket(server.url, db)
    try:
        again.subscribe([channel], last=first["id"])
        missed = again.messages(2)
        assert [m["message"] for m in missed] == ["second", {"n": 3}]
        # a long poll from the same id sees the same messages in the same order
        polled = long_poll(server.url, db, [channel], first["id"], 0)
        assert [(m["id"], m["message"]) for m in polled] == [(m["id"], m["message"]) for m in missed]
        publish(db, channel, "fourth")
        assert again.receive()["message"] == "fourth"
    finally:
        again.close()


def test_an_oversized_message_closes_with_1009_and_ping_is_answered(server: ServerProcess, db: str) -> None:
    client = BusSocket(server.url, db)
    try:
        client.ws.ping(b"are you there")
        opcode, data = client.ws.recv_data(control_frame=True)
        assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"are you there")
        client.ws.send("x" * (70 * 1024))
        assert client.close_code() == 1009
    finally:
        client.ws.shutdown()


def test_an_anonymous_socket_cannot_subscribe_to_a_private_channel(server: ServerProcess, db: str) -> None:
    client = BusSocket(server.url, db)
    try:
        client.ws.send('{"subscribe": ["user.1.private", "news"], "last": 0}')
        assert "private" in client.receive()["error"]  # refused as a whole, like the poll (SECURITY.md)
        client.subscribe(["news"])  # the socket stays open for what it may read
    finally:
        client.close()


def test_a_foreign_origin_is_refused(server: ServerProcess, db: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url(server.url, db), timeout=10, origin="http://evil.example")
    assert refused.value.status_code == 403
    own = BusSocket(server.url, db, origin=server.url)  # the server's own pages may connect
    own.close()


def test_sigterm_closes_websockets_with_1012(db: str) -> None:
    server = ServerProcess().wait_ready()
    try:
        client = BusSocket(server.url, db)
        try:
            client.subscribe([channel_name()])
            server.signal(signal.SIGTERM)
            assert client.close_code() == 1012  # "service restart": reconnect with the last id
        finally:
            client.ws.shutdown()
        assert server.wait(20) == 0
    finally:
        server.stop()


def test_a_poll_waits_for_a_message_and_answers_empty_only_at_its_timeout(server: ServerProcess, db: str) -> None:
    """On prefork's HTTP port too: the worker hands the poll to the gevent process, where it waits."""
    channel = channel_name()
    got: list[list[dict[str, Any]]] = []
    waiter = threading.Thread(target=lambda: got.append(long_poll(server.url, db, [channel], 0, 30)))
    waiter.start()
    server.wait_for_polls(channel)
    assert not got, "the poll answered before anything was sent"
    publish(db, channel, {"text": "worth the wait"})
    waiter.join(30)
    assert got and [m["message"] for m in got[0]] == [{"text": "worth the wait"}]
    started = time.monotonic()
    assert long_poll(server.url, db, [channel_name()], 0, 1.5) == []
    assert time.monotonic() - started >= 1.5  # empty only once its timeout is over, never at once


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the requests said Connection: close)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_clients_slow_to_send_their_request_do_not_hold_the_port(server: ServerProcess) -> None:
    """Issue 14: with two workers, two sockets that send a head and no body stalled prefork's port for minutes."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    post = (b"POST /webtest/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
            b"Connection: close\r\n\r\n")  # and its body later
    heads = [post, post, b"GET /webtest/hello HTTP/1.1\r\nHost: x\r\n", b"GET /webtest/hello HTTP/1.1\r\n"]
    slow = [socket.create_connection((host, int(port)), timeout=60) for _ in heads]
    try:
        for sock, head in zip(slow, heads):
            sock.sendall(head)
        for _ in range(6):  # more requests than workers: none of them waits for the slow clients
            assert requests.get(server.url + "/webtest/hello", timeout=30).text == "hello"
        # the slow clients are still served once they finish their requests
        for sock, head in zip(slow, heads):
            rest = b"Connection: close\r\n\r\n" if head.endswith(b"x\r\n") else b"Host: x\r\nConnection: close\r\n\r\n"
            sock.sendall(b'{"a": true}' if head.startswith(b"POST") else rest)
        answers = [read_to_end(sock) for sock in slow]
        assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), answers
        assert b'"a":true' in answers[0] or b'"a": true' in answers[0]
    finally:
        for sock in slow:
            sock.close()


# -- the demo page, served in prefork mode on the HTTP port, in headless Chromium -----------------------------

#: makes the page's WebSocket fail to open (a URL with no WebSocket behind it), as behind a proxy that drops them
NO_WEBSOCKET = ("window.WebSocket = class extends window.WebSocket {"
                " constructor(url) { super(url.replace('/websocket', '/no-websocket-here')); } };")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, address: Any) -> Iterator[tuple[ServerProcess, Path, str]]:
    """The demo project (made and filled as `devshell start --demo` does) served by `devshell server --workers 2`."""
    from devshell.db.admin import drop_database
    from devshell.start import create_demo, find_project, prepare

    folder = tmp_path_factory.mktemp("realtime") / unique_name("live")
    db = folder.name
    prepare(find_project(create_demo(folder)), demo=True)
    command = [sys.executable, "-m", "devshell", "server", "--workers", "2", "--http-port", "0", "--gevent-port", "0",
               "--max-cron-threads", "0", "-d", db]
    server = ServerProcess(command=command, cwd=folder)
    try:
        server.wait_ready(timeout=60)
        eventually(lambda: len(workers(server)) >= 2, message="workers never started:\n" + server.output)
        yield server, folder, db
    finally:
        server.stop()
        drop_database(address, db, missing_ok=True)


def realtime_requests(server: ServerProcess, start: int) -> tuple[int, int]:
    """(WebSocket upgrades, long polls) in the server's access lines from line *start* on."""
    lines = server.lines[start:]
    return (sum('"GET /websocket' in line for line in lines), sum('"POST /longpolling/poll' in line for line in lines))


def test_the_demo_page_in_prefork_mode_fills_from_the_bus_then_lives_on_a_websocket(
        demo_server: tuple[ServerProcess, Path, str], chromium: str, address: Any) -> None:
    server, folder, db = demo_server
    earlier = f"sent before the page opened {unique_name('m')}"
    publish(db, "library", {"text": earlier})
    start = len(server.lines)
    browser = Browser(chromium, server.url + "/library")
    try:
        shown = browser.wait_for_text("listening")  # the socket is open and subscribed
        assert earlier in shown  # the first fill comes from the bus table, before any socket
        marker = f"hello from devshell shell {unique_name('m')}"
        sent = run_devshell("shell", "-d", db, "-c", f"env.bus.send('library', {{'text': {marker!r}}}); env.commit()",
                            cwd=folder)
        assert sent.returncode == 0, sent.stderr
        browser.wait_for_text(marker)
        activity = browser.evaluate("window.devshellLive")
        assert activity == {"sockets": 1, "polls": 0, "transport": "websocket"}  # one socket, no busy polling
        server.wait_for_line(r'"GET /websocket\?db=\S+ HTTP/1.1" 101', start=start)
        assert realtime_requests(server, start) == (1, 0), "\n".join(server.lines[start:])
        # the time shown is when the message was sent: the bus row's
        (created,), = query(address, db, "SELECT created_at FROM devshell_bus WHERE message->>'text' = %s", (marker,))
        shown_at = browser.evaluate("document.querySelector('#live-messages li time').dateTime")
        assert datetime.datetime.fromisoformat(shown_at) == created
    finally:
        browser.close()


def test_the_demo_page_falls_back_to_long_polling_when_no_websocket_opens(
        demo_server: tuple[ServerProcess, Path, str], chromium: str) -> None:
    server, _folder, db = demo_server
    browser = Browser(chromium, "about:blank")
    try:
        session = browser.attach()
        browser.call("Page.enable", session=session)
        browser.call("Page.addScriptToEvaluateOnNewDocument", {"source": NO_WEBSOCKET}, session=session)
        browser.call("Page.navigate", {"url": server.url + "/library"}, session=session)
        eventually(lambda: browser.evaluate("window.devshellLive && window.devshellLive.transport") == "long polling",
                   timeout=30, message="the page never fell back to long polling:\n" + browser.text())
        marker = f"polled {unique_name('m')}"
        publish(db, "library", {"text": marker})
        browser.wait_for_text(marker)
        activity = browser.evaluate("window.devshellLive")
        assert activity["sockets"] == 0 and 1 <= activity["polls"] <= 3, activity  # each poll waits: no busy loop
    finally:
        browser.close()
