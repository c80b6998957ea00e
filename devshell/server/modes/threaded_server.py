"""The threaded server (seed, the default mode): werkzeug's WSGI server, a thread per connection.

The accept loop waits on the listening socket and a wake-up pipe, so stopping is
immediate; each connection's thread is tracked, so a graceful stop can wait for
the requests in flight while the listening socket is already closed.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from ..web.websocket import is_websocket_request
from .server import Server
from .server_log import access_logger

if TYPE_CHECKING:
    from ...config import Config
    from ..web.application import Root


class AccessLogHandler(WSGIRequestHandler):
    """werkzeug's handler with one access-log line per request on the ``devshell.http`` logger."""

    _started = 0.0

    def run_wsgi(self) -> None:
        self._started = time.perf_counter()
        if self.path.startswith("/websocket") and "websocket" in self.headers.get("Upgrade", "").lower():
            environ = self.make_environ()
            if is_websocket_request(environ):
                self._serve_websocket(environ)
                return
        super().run_wsgi()

    def _serve_websocket(self, environ: dict[str, Any]) -> None:
        """Hand the connection to the application's WebSocket session (this thread runs it until it closes)."""
        self.close_connection = True
        app: Root = self.server.app  # type: ignore[assignment]  # the devshell app werkzeug's server was given
        app.serve_websocket(environ, self.connection, answered=self.log_request)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not access_logger.isEnabledFor(logging.INFO):
            return
        elapsed = (time.perf_counter() - self._started) * 1000 if self._started else 0.0
        access_logger.info('%s "%s" %s %.1fms', self.address_string(), self.requestline.translate(self._control),
                     code, elapsed)

    _control = str.maketrans({c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]})

    def log_error(self, format: str, *args: Any) -> None:
        access_logger.warning("%s %s", self.address_string(), format % args)

    def log_message(self, format: str, *args: Any) -> None:
        access_logger.info("%s %s", self.address_string(), format % args)


class _WSGIServer(ThreadedWSGIServer):
    """werkzeug's threaded server with an accept loop that stops at once and tracked connection threads."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, sock: socket.socket, app: "Root") -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(host, port, app, handler=AccessLogHandler, fd=sock.fileno())
        from ...version import __version__

        self._server_version = f"devshell/{__version__}"
        self._active: set[threading.Thread] = set()
        self._idle = threading.Condition()
        self._accepting = True
        self._wake_r, self._wake_w = os.pipe()

    def serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while self._accepting:
                for key, _mask in selector.select():
                    if key.fd == self._wake_r:
                        return
                    self._handle_request_noblock()  # type: ignore[attr-defined]  # socketserver's, not in typeshed

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._process, args=(request, client_address), daemon=True)
        with self._idle:
            self._active.add(thread)
        thread.start()

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._idle:
                self._active.discard(threading.current_thread())
                self._idle.notify_all()

    def stop_accepting(self) -> None:
        self._accepting = False
        os.write(self._wake_w, b"x")

    def accept_queued(self) -> int:
        """Serve the connections already waiting in the listen backlog; how many.

        Closing the listening socket resets them, and a proxy does not retry a POST
        it had sent: a draining server takes them in first.
        """
        self.socket.setblocking(False)
        count = 0
        while True:
            try:
                request, client_address = self.socket.accept()
            except OSError:  # BlockingIOError: none left
                return count
            self.process_request(request, client_address)
            count += 1

    @property
    def in_flight(self) -> int:
        with self._idle:
            return len(self._active)

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no connection is being served; True when that happened within *timeout*."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def close_wake_pipe(self) -> None:
        os.close(self._wake_r)
        os.close(self._wake_w)


class ThreadedServer(Server):
    """``devshell server --mode threaded``: HTTP threads plus ``max_cron_threads`` cron threads."""

    mode = "threaded"
    _httpd: _WSGIServer | None

    def __init__(self, config: "Config", *, app: "Root | None" = None) -> None:
        super().__init__(config, app=app)
        self._accept_thread: threading.Thread | None = None

    def start(self) -> None:
        if self.started:
            return
        self.check_root()
        app = self._app_for_start()
        try:
            sock = self._listening_socket()
            try:
                self._httpd = httpd = _WSGIServer(sock, app)
                self._bound_port = int(sock.getsockname()[1])
            finally:
                sock.close()  # the server holds its own duplicate
        except BaseException:
            self._release_app()
            raise
        self._accept_thread = threading.Thread(target=httpd.serve, name="devshell-http", daemon=True)
        self._accept_thread.start()
        self._start_cron(app)
        self.started = True

    def _stop_accepting(self, handoff: bool) -> int:
        assert self._httpd is not None
        self._httpd.stop_accepting()
        if self._accept_thread is not None:
            self._accept_thread.join()
        if not handoff:
            self._httpd.accept_queued()
            self._httpd.socket.close()
        return self._httpd.in_flight

    def _drain(self, timeout: float | None) -> bool:
        assert self._httpd is not None
        return self._httpd.wait_idle(timeout)

    def _close(self, handoff: bool) -> None:
        assert self._httpd is not None
        self._httpd.close_wake_pipe()
