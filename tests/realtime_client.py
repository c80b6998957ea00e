"""A WebSocket client for the real-time tests (websocket-client, a kept library), speaking devshell's messages."""

from __future__ import annotations

import json
import struct
import time
from typing import Any

import requests
import websocket


def ws_url(http_url: str, db: str) -> str:
    return http_url.replace("http://", "ws://", 1).rstrip("/") + f"/websocket?db={db}"


class BusSocket:
    """One WebSocket on ``/websocket``: subscribe, then read bus messages (JSON) as they come."""

    def __init__(self, http_url: str, db: str, **options: Any) -> None:
        options.setdefault("suppress_origin", True)  # a script, not a page: no Origin header
        self.ws = websocket.create_connection(ws_url(http_url, db), timeout=30, **options)

    def subscribe(self, channels: list[str], last: int = 0) -> dict[str, Any]:
        """Subscribe and return the server's acknowledgement (messages come after it)."""
        self.ws.send(json.dumps({"subscribe": channels, "last": last}))
        answer = self.receive()
        assert answer.get("subscribed") == sorted(set(channels)), answer
        return answer

    def receive(self) -> dict[str, Any]:
        value = json.loads(self.ws.recv())
        assert isinstance(value, dict)
        return value

    def messages(self, count: int) -> list[dict[str, Any]]:
        return [self.receive() for _ in range(count)]

    def close_code(self, timeout: float = 30) -> int:
        """Read until the server's close frame; its status code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return int(struct.unpack("!H", data[:2])[0]) if len(data) >= 2 else 1005
        raise AssertionError("the server never closed the socket")

    def close(self) -> None:
        self.ws.close(timeout=5)


def long_poll(http_url: str, db: str, channels: list[str], last: int, timeout: float) -> list[dict[str, Any]]:
    response = requests.post(f"{http_url}/longpolling/poll?db={db}",
                             json={"channels": channels, "last": last, "timeout": timeout}, timeout=timeout + 30)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert isinstance(answer, list)
    return answer
