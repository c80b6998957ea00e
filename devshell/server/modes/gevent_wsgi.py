"""gevent's WSGI server as gevent mode needs it (imported only in a process gevent has patched).

On top of ``gevent.pywsgi``: TCP_NODELAY on every accepted socket (without it a
keep-alive response can wait ~40 ms for a delayed ACK), a small read buffer
(an idle long poll keeps its connection's buffer), one write for a small
response and its head, the requests in flight (a graceful stop waits for them),
``limit_time_real`` per request (a reaper greenlet logs the stack of a request
past it and interrupts it with a 503), and one access line per request.
"""

from __future__ import annotations

import logging
import socket
import time
import traceback
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import gevent.pool
from gevent.pywsgi import WSGIHandler, WSGIServer
from werkzeug.exceptions import ServiceUnavailable

from ..web.websocket import is_websocket_request
from .server_log import AccessLog

if TYPE_CHECKING:
    from ..web.application import Root

logger = logging.getLogger(__name__)

READ_BUFFER = 2048  #: per connection: enough for most request heads; bodies are read past it
COALESCE_BODY = 16384  #: a body up to this size is sent in the same write as the response head
SOCKET_ENVIRON_KEY = "devshell.socket"  #: the connection's socket, like werkzeug's ``werkzeug.socket``


class RequestTimeLimit(ServiceUnavailable):
    """Thrown into a request's greenlet when it runs past ``limit_time_real``."""


class Handler(WSGIHandler):
    """pywsgi's handler, registering each request in flight with its server."""

    server: "DevshellWSGIServer"
    environ: dict[str, Any]
    headers: Any
    _hold_head = False
    _head: bytes | bytearray | None = None

    def __init__(self, sock: socket.socket, address: Any, server: "DevshellWSGIServer") -> None:
        super().__init__(sock, address, server, rfile=sock.makefile("rb", READ_BUFFER))

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[SOCKET_ENVIRON_KEY] = self.socket
        return environ

    def handle_one_response(self) -> None:
        if is_websocket_request(self.environ):
            self._serve_websocket()
            return
        server, current = self.server, gevent.getcurrent()
        server.requests[current] = (time.monotonic(), self)
        try:
            super().handle_one_response()
        finally:
            del server.requests[current]
            if server.draining:
                self.close_connection = True  # no keep-alive while stopping
                if not server.requests:
                    server.idle.set()

    def _serve_websocket(self) -> None:
        """The connection becomes a WebSocket session, run in this greenlet until it closes.

        Not counted among the requests in flight: ``limit_time_real`` is for requests,
        and a stopping server closes its WebSockets itself (1012).
        """
        self.close_connection = True

        def answered(status: int) -> None:
            self.status = str(status)
            self.time_finish = time.time()
            self.log_request()
            self.environ, self.headers = {}, None  # an open socket keeps only what its session needs,
            self.rfile.close()  # not the request's head, nor its read buffer (the session reads the socket)

        self.server.application.serve_websocket(self.environ, self.socket, answered)

    def _write_with_headers(self, data: bytes) -> None:
        # pywsgi writes the head, then the body: a small body goes out with its head, in one send
        self._hold_head = 0 < len(data) <= COALESCE_BODY
        super()._write_with_headers(data)

    def _sendall(self, data: bytes | bytearray) -> None:
        if self._hold_head:
            self._hold_head, self._head = False, data
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        super()._sendall(data)

    def log_request(self) -> None:
        access = self.server.access
        if access.enabled():
            elapsed = (self.time_finish - self.time_start) * 1000 if self.time_finish else 0.0
            status = (self._orig_status or self.status or "000").split(None, 1)[0]
            address = (self.environ or {}).get("REMOTE_ADDR")  # the client's, once proxy_mode read X-Forwarded-For
            if not address:
                address = self.client_address[0] if isinstance(self.client_address, tuple) else self.client_address
            access.log(f'{address or "-"} "{self.requestline}" {status} {elapsed:.1f}ms')


class DevshellWSGIServer(WSGIServer):
    """pywsgi's server with NODELAY, the requests in flight and a ``limit_time_real`` reaper."""

    handler_class = Handler

    def __init__(self, sock: socket.socket, app: "Root", time_limit: float) -> None:
        from ...version import __version__

        super().__init__(sock, app, spawn=gevent.pool.Pool(), log=None, error_log=logger,
                         environ={"SERVER_SOFTWARE": f"devshell/{__version__}"})
        self.time_limit = time_limit
        self.access = AccessLog()
        self.requests: dict[Any, tuple[float, Handler]] = {}  #: greenlet -> (start, handler), in flight
        self.draining = False
        self.idle = gevent.event.Event()
        self._reaper: Any = None

    def handle(self, sock: socket.socket, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)

    def adopt(self, sock: socket.socket) -> None:
        """Serve a connection accepted elsewhere (a prefork HTTP worker handed it over) as one of ours."""
        try:
            address = sock.getpeername()
        except OSError:
            sock.close()  # the client left meanwhile
            return
        self.do_handle(sock, address)

    def start(self) -> None:
        super().start()
        if self.time_limit > 0 and self._reaper is None:
            self._reaper = gevent.spawn(self._reap, min(1.0, self.time_limit / 4))

    def drain(self, timeout: float | None) -> bool:
        """Stop accepting and wait for the requests in flight; True when none is left in time."""
        self.draining = True
        self.stop_accepting()
        if not self.requests:
            self.idle.set()
        return bool(self.idle.wait(timeout))

    def close(self) -> None:
        if self._reaper is not None:
            self._reaper.kill(block=False)
            self._reaper = None
        super().close()

    def _reap(self, interval: float) -> None:
        """Interrupt the requests running past the time limit, once each, after logging their stack."""
        interrupted: set[Any] = set()
        while True:
            gevent.sleep(interval)
            deadline = time.monotonic() - self.time_limit
            interrupted &= set(self.requests)
            for greenlet, (started, handler) in list(self.requests.items()):
                if started < deadline and greenlet not in interrupted:
                    interrupted.add(greenlet)
                    stack = "".join(traceback.format_stack(greenlet.gr_frame)) if greenlet.gr_frame else ""
                    logger.error("request %r ran for more than limit_time_real (%g s): interrupting it; "
                                  "its stack:\n%s", handler.requestline, self.time_limit, stack.rstrip())
                    greenlet.kill(RequestTimeLimit(f"the request ran for more than limit_time_real "
                                                   f"({self.time_limit:g} s)"), block=False)
