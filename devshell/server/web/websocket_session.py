"""One WebSocket conversation: subscriptions in, bus messages out, keepalive, and a clean close.

Messages, client → server (JSON text frames): ``{"subscribe": [channels], "last": id}``,
again to change channels; the server answers ``{"subscribed": [...], "last": id}``,
then pushes ``{"id", "channel", "message", "sent"}``, one per frame: first what is
newer than ``last`` (what was missed while away; ``0`` means the recent ones, as
for a long poll), then each message as it commits. A request it cannot use gets
``{"error": "..."}`` and the socket stays open.

An idle socket costs one thread (a greenlet in gevent mode): the one that
accepted it, which reads what the client sends and pings it when it has been
quiet for :data:`PING_INTERVAL`. What the subscription thread hands over goes to
an outbox, sent in order by a short-lived sender started when there is something
to send, so a slow client never holds up the others. One lock guards the wsproto
connection and the socket's writes. Close codes: 1009 for a message over
:data:`MAX_MESSAGE_BYTES`, 1003 for a binary one, 1011 when the peer answers no
ping, 1012 when the server stops or restarts (the client reconnects with the
last id it saw, and misses nothing).
"""

from __future__ import annotations

import collections
import logging
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage

from ...errors import DatabaseError
from ...json_input import loads
from ...messaging.subscriptions import Subscriber, encode

if TYPE_CHECKING:
    from wsproto.connection import Connection

    from .application import Root

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  #: the largest message a client may send (a subscription is far smaller)
PING_INTERVAL = 25.0  #: a client quiet this long is pinged (proxies drop connections idle for 60 s)
CLOSE_TIMEOUT = 3.0  #: how long a close waits for the client's close frame
SEND_TIMEOUT = 30.0  #: a client that reads nothing for this long is dropped
READ_CHUNK = 4096
CLOSE_MESSAGE_TOO_BIG, CLOSE_UNSUPPORTED, CLOSE_ERROR, CLOSE_RESTART = 1009, 1003, 1011, 1012
RESTART_REASON = "server restarting: reconnect with the last id you saw"


def _background(target: Callable[[], None]) -> None:
    """Run *target* in a new thread (a bare greenlet where gevent has patched threading: far lighter)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        import gevent

        gevent.spawn(target)
    else:
        threading.Thread(target=target, name="devshell-websocket-sender", daemon=True).start()


class WebSocketSession:
    """The conversation on one accepted WebSocket, run in the thread that accepted it."""

    def __init__(self, app: "Root", sock: socket.socket, conn: "Connection", db: str, uid: int | None,
                 sid: str | None) -> None:
        self.app = app
        self.sock = sock
        self.conn = conn
        self.db = db
        self.uid = uid
        self.sid = sid
        self.subscriber: Subscriber | None = None
        self._lock = threading.Lock()  #: the wsproto connection and the socket's writes
        self._outbox: collections.deque[tuple[Subscriber | None, list[str]]] = collections.deque()
        self._outbox_lock = threading.Lock()
        self._sending = False  #: a sender runs (under _outbox_lock)
        self._partial: list[str] = []
        self._partial_size = 0
        self._closing_since: float | None = None
        self._ended = False

    # -- what other threads call ------------------------------------------------------------------------

    def stop(self) -> None:
        """Close with 1012 (the server stops or restarts); returns at once."""
        self._post(None, [])

    def _deliver(self, subscriber: Subscriber, texts: list[str]) -> None:
        self._post(subscriber, texts)

    def _post(self, subscriber: Subscriber | None, texts: list[str]) -> None:
        with self._outbox_lock:
            self._outbox.append((subscriber, texts))
            if self._sending:
                return
            self._sending = True
        _background(self._send_outbox)

    def _send_outbox(self) -> None:
        """Send what is in the outbox, in order, then end (the next post starts another sender)."""
        try:
            while True:
                with self._outbox_lock:
                    if not self._outbox:
                        self._sending = False
                        return
                    subscriber, texts = self._outbox.popleft()
                if subscriber is None:
                    self._close(CLOSE_RESTART, RESTART_REASON)
                    self._end_after_close()
                elif subscriber is self.subscriber:
                    for text in texts:
                        self._send(TextMessage(data=text), only_when_open=True)
        except OSError as exc:  # the client is gone, or stopped reading
            logger.debug("websocket on %s: sending failed: %s", self.db, exc)
            with self._outbox_lock:
                self._outbox.clear()
                self._sending = False
            self._shutdown()

    def _end_after_close(self) -> None:
        """Give the client CLOSE_TIMEOUT to answer our close, then end the session whatever it does."""
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while not self._ended and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._ended:
            self._shutdown()

    # -- the session's own thread ------------------------------------------------------------------------

    def run(self) -> None:
        sessions = self.app.websockets
        sessions.add(self)
        if self.app.stopping:
            self.stop()
        try:
            self._converse()
        except OSError as exc:  # the client went away
            logger.debug("websocket on %s ended: %s", self.db, exc)
        finally:
            self._ended = True
            if self.subscriber is not None:
                self.app.subscriptions.unsubscribe(self.subscriber)
            sessions.discard(self)
            self._shutdown()

    def _converse(self) -> None:
        self.sock.settimeout(PING_INTERVAL)
        awaiting_pong = False
        while self.conn.state is not ConnectionState.CLOSED:
            try:
                data = self.sock.recv(READ_CHUNK)
            except socket.timeout:
                if self._closing_since is not None:
                    return  # the client never answered our close
                if awaiting_pong:
                    self._close(CLOSE_ERROR, "no answer to ping")
                else:
                    self._send(Ping(payload=b"devshell"))
                    awaiting_pong = True
                continue
            if not data:
                return
            with self._lock:
                self.conn.receive_data(data)
                events = list(self.conn.events())
            for event in events:
                if isinstance(event, Pong):
                    awaiting_pong = False
                self._on_event(event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, TextMessage):
            self._partial_size += len(event.data)
            if self._partial_size > MAX_MESSAGE_BYTES:
                self._close(CLOSE_MESSAGE_TOO_BIG, f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
                return
            self._partial.append(event.data)
            if event.message_finished:
                text, self._partial, self._partial_size = "".join(self._partial), [], 0
                self._on_text(text)
        elif isinstance(event, BytesMessage):
            self._close(CLOSE_UNSUPPORTED, "send JSON in text messages")
        elif isinstance(event, Ping):
            self._send(event.response(), only_when_open=True)
        elif isinstance(event, CloseConnection):
            if self.conn.state is ConnectionState.REMOTE_CLOSING:
                self._send(event.response())

    # -- devshell's messages ------------------------------------------------------------------------------

    def _on_text(self, text: str) -> None:
        if self._closing_since is not None:
            return
        try:
            request = loads(text)
            if not isinstance(request, dict) or "subscribe" not in request:
                raise ValueError('send {"subscribe": ["channel", ...], "last": 0}')
            channels, last = self._readable(request["subscribe"], request.get("last", 0))
        except ValueError as exc:
            self._send_json({"error": str(exc)})
            return
        if self.subscriber is not None:
            self.app.subscriptions.unsubscribe(self.subscriber)
            self.subscriber = None
        subscriber = Subscriber(self.db, channels, last, deliver=lambda texts: self._deliver(subscriber, texts))
        self._send_json({"subscribed": list(subscriber.channels), "last": last})  # before any message
        self.subscriber = subscriber
        try:
            self.app.subscriptions.subscribe(subscriber)
        except DatabaseError as exc:
            self.subscriber = None
            self._send_json({"error": exc.message})

    def _readable(self, channels: Any, last: Any) -> tuple[list[str], int]:
        """The channels and last id of a subscription, checked as a poll's are; a ValueError otherwise."""
        from ...messaging.bus import is_private, parse_poll, readable_channels

        channels, last, _timeout = parse_poll({"channels": channels, "last": last, "timeout": 0})
        private = [channel for channel in channels if is_private(channel)]
        readable = readable_channels(private, self.uid, self.sid)
        refused = [channel for channel in private if channel not in readable]
        if refused:
            raise ValueError(f"channel {refused[0]!r} is private: only its own user or session may read it")
        return channels, last

    # -- sending ------------------------------------------------------------------------------------------

    def _send_json(self, value: Any) -> None:
        self._send(TextMessage(data=encode(value)), only_when_open=True)

    def _send(self, event: Event, *, only_when_open: bool = False) -> None:
        with self._lock:
            if only_when_open and self.conn.state is not ConnectionState.OPEN:
                return
            self.sock.sendall(self.conn.send(event))

    def _close(self, code: int, reason: str) -> None:
        """Start the closing handshake: the session ends on the client's answer, or after CLOSE_TIMEOUT."""
        with self._lock:
            if self.conn.state is not ConnectionState.OPEN:
                return
            logger.debug("closing a websocket on %s: %d %s", self.db, code, reason)
            data = self.conn.send(CloseConnection(code=code, reason=reason))
            self._closing_since = time.monotonic()
            self.sock.settimeout(CLOSE_TIMEOUT)
            self.sock.sendall(data)

    def _shutdown(self) -> None:
        """End the connection both ways (a recv blocked in the session's thread returns)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
