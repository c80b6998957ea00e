"""Long polling over real HTTP: messages published with `env.bus.send` from `devshell.connect()`."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Iterator

import pytest
import requests

from server_process import DEBUG_LOG, ServerProcess, started


@pytest.fixture(scope="module")
def server(db: str) -> Iterator[ServerProcess]:
    yield from started("-d", db, env=DEBUG_LOG)


def poll(server: ServerProcess, channels: list[str], last: int, timeout: float) -> list[dict[str, Any]]:
    response = requests.post(server.url + "/longpolling/poll",
                             json={"channels": channels, "last": last, "timeout": timeout}, timeout=timeout + 10)
    assert response.status_code == 200, response.text
    return response.json()


def send(db: str, *messages: tuple[str, Any], commit: bool = True) -> float:
    """Publish from a separate connection (as a script or the shell would); the commit time."""
    import devshell

    env = devshell.connect(db)
    try:
        for channel, message in messages:
            env.bus.send(channel, message)
        committed = time.monotonic()
        env.commit() if commit else env.rollback()
        return committed
    finally:
        env.close()


def test_a_waiting_poll_is_woken_within_a_second(server: ServerProcess, db: str) -> None:
    channel = f"chat-{uuid.uuid4().hex[:6]}"
    got: list[list[dict[str, Any]]] = []
    waiter = threading.Thread(target=lambda: got.append(poll(server, [channel], 0, 20)))
    waiter.start()
    server.wait_for_polls(channel)
    assert not got, "the poll answered before anything was sent"
    committed = send(db, (channel, {"text": "hi"}))
    waiter.join(10)
    received = time.monotonic()
    assert got and [m["message"] for m in got[0]] == [{"text": "hi"}]
    assert got[0][0]["channel"] == channel
    assert received - committed < 1.0


def test_messages_sent_while_away_come_with_the_next_poll(server: ServerProcess, db: str) -> None:
    channel, other = f"feed-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    send(db, (channel, "first"))
    first = poll(server, [channel], 0, 0)
    assert [m["message"] for m in first] == ["first"]
    last = first[-1]["id"]
    send(db, (channel, "second"), (other, "not for us"), (channel, {"n": 3}))  # nobody is polling now
    started_at = time.monotonic()
    missed = poll(server, [channel], last, 20)
    assert time.monotonic() - started_at < 1.0  # answered at once, not at the timeout
    assert [m["message"] for m in missed] == ["second", {"n": 3}]
    assert all(m["id"] > last for m in missed) and missed[0]["id"] < missed[1]["id"]
    assert poll(server, [channel], missed[-1]["id"], 0) == []


def test_a_rolled_back_message_is_never_delivered(server: ServerProcess, db: str) -> None:
    channel = f"void-{uuid.uuid4().hex[:6]}"
    send(db, (channel, "lost"), commit=False)
    assert poll(server, [channel], 0, 0.5) == []


def test_bad_poll_bodies(server: ServerProcess) -> None:
    url = server.url + "/longpolling/poll"
    assert requests.post(url, json={"channels": "chat", "last": 0}).status_code == 400
    assert requests.post(url, json={"channels": ["chat"], "last": -1}).status_code == 400
    assert requests.post(url, json={"channels": ["chat"], "last": 0, "timeout": "soon"}).status_code == 400
    assert requests.post(url, data="[", headers={"Content-Type": "application/json"}).status_code == 400


def test_a_huge_timeout_is_capped() -> None:
    from devshell.messaging.bus import MAX_POLL_TIMEOUT, parse_poll

    assert parse_poll({"channels": ["a"], "last": 3, "timeout": 10**9}) == (["a"], 3, MAX_POLL_TIMEOUT)
    assert parse_poll({"channels": ["a", "a"], "timeout": -5}) == (["a"], 0, 0.0)
    assert MAX_POLL_TIMEOUT <= 60
