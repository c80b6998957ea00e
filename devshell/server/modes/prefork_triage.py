"""prefork's HTTP workers serve whole requests only; everything that would hold one goes to the gevent process.

gunicorn's sync worker reads a request, runs it, answers, one at a time: a client
that sends its head and then nothing holds the worker until a timeout, and two
such clients stall a two-worker server (issue 14). So :class:`WholeRequestWorker`
first *peeks* at a new connection (``MSG_PEEK``: nothing is consumed) and:

- a long poll (``/longpolling/…``) or a WebSocket (``/websocket``) goes to the gevent
  process at once, where waiting costs a greenlet (:mod:`.prefork_handoff`);
- a request whose head and body are already there (or at least :data:`PEEK_LIMIT`
  bytes of it: a big upload under way) is served here, as gunicorn would;
- anything still incomplete after :data:`GRACE` seconds (an idle or slow client) goes
  to the gevent process too, which waits for the rest as long as it takes.

The listening socket also gets ``TCP_DEFER_ACCEPT`` (Linux): a connection that
sends nothing is not even offered to a worker for a while.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from typing import Any

from gunicorn import util
from gunicorn.workers.sync import SyncWorker

from .prefork_handoff import HandoffSender

logger = logging.getLogger(__name__)

PEEK_LIMIT = 65536
GRACE = 0.2  #: seconds a worker waits for the rest of a request before handing the connection over
REALTIME_PATHS = (b"/websocket", b"/longpolling/")
WHOLE, PARTIAL, REALTIME = "whole", "partial", "realtime"


def defer_accept(listener: socket.socket, seconds: int = 1) -> None:
    """Offer a connection to ``accept()`` only once it has data, or after *seconds* (Linux; elsewhere nothing)."""
    option = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if option is not None and listener.family in (socket.AF_INET, socket.AF_INET6):
        listener.setsockopt(socket.IPPROTO_TCP, option, seconds)


def _realtime(target: bytes) -> bool:
    path = target.split(b"?", 1)[0]
    return path == REALTIME_PATHS[0] or path.startswith(REALTIME_PATHS[1])


def classify(data: bytes) -> str:
    """What the bytes a client sent so far are: a ``realtime`` request, a ``whole`` one, or ``partial``."""
    line_end = data.find(b"\r\n")
    if line_end >= 0:
        parts = data[:line_end].split()
        if len(parts) >= 2 and _realtime(parts[1]):
            return REALTIME
    if len(data) >= PEEK_LIMIT:
        return WHOLE  # a big request under way: the worker reads the rest as it comes
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return PARTIAL
    length: int | None = None
    for line in data[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"expect":
            return WHOLE  # the client waits for "100 Continue", which the worker sends
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return WHOLE if data.endswith(b"0\r\n\r\n") else PARTIAL
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return WHOLE  # malformed: gunicorn answers 400
    body = len(data) - head_end - 4
    return WHOLE if length is None or body >= length else PARTIAL


def _peek(sock: socket.socket) -> bytes | None:
    """What the client sent so far (left in the socket); None when it is gone."""
    try:
        return sock.recv(PEEK_LIMIT, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b""
    except OSError:
        return None


_HANGUP = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR


def _wait_for_more(sock: socket.socket, have: int, timeout: float) -> bool | None:
    """Wait up to *timeout* for more than *have* bytes: True when some came (or may have), False on
    timeout, None when the client closed its side (what it sent is all there will be)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | _HANGUP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, have + 1)
    except OSError:
        pass  # without SO_RCVLOWAT poll returns at once while bytes are there: the caller pauses
    try:
        events = poller.poll(max(1, int(timeout * 1000)))
    finally:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
        except OSError:
            pass
    if not events:
        return False
    return None if events[0][1] & _HANGUP else True


def triage(sock: socket.socket, grace: float = GRACE) -> tuple[str, bytes]:
    """(verdict, request line) for a new connection: ``whole`` to serve here, else hand it over."""
    deadline = time.monotonic() + grace
    data = _peek(sock)
    while True:
        if data is None:
            return WHOLE, b""  # gone: gunicorn's reading ends it quietly
        verdict = classify(data)
        line = data.split(b"\r\n", 1)[0][:200]
        remaining = deadline - time.monotonic()
        if verdict != PARTIAL or remaining <= 0:
            return verdict, line
        more = _wait_for_more(sock, len(data), remaining)
        if more is None:
            return WHOLE, line  # the client closed its side: gunicorn answers what it sent
        if more is False:
            return PARTIAL, line
        grown = _peek(sock)
        if grown is not None and len(grown) <= len(data):
            time.sleep(0.005)  # readable but nothing new: the kernel ignores SO_RCVLOWAT for poll
        data = grown


class WholeRequestWorker(SyncWorker):
    """gunicorn's sync worker, serving only whole requests (see the module's rules)."""

    _handoff: HandoffSender | None = None

    def accept(self, listener: Any) -> None:
        client, address = listener.accept()
        client.setblocking(True)
        util.close_on_exec(client)
        verdict, line = triage(client)
        if verdict != WHOLE and self._hand_off(client):
            logger.debug("worker handed %s (%s) to the long-polling process", line.decode("latin-1"), verdict)
            client.close()  # our copy only: the connection lives on in the gevent process
            return
        self.handle(listener, client, address)

    def _hand_off(self, client: socket.socket) -> bool:
        if self._handoff is None:
            sock = getattr(self.app, "handoff", None)
            if sock is None:
                return False
            self._handoff = HandoffSender(sock)
        return self._handoff.send(client)
