"""The threaded server run inside the caller's process, its log lines kept apart from the terminal.

While a background server runs, the ``devshell.server``, ``devshell.messaging``
and ``devshell.http`` loggers write into the handle's ring buffer instead of
propagating to the root logger, so a REPL prompt is never garbled by access
lines and a notebook cell never receives another cell's output. A record goes to the buffer of the server
whose thread logged it (request threads are tagged by the application, start
and stop by the caller); records from shared threads (cron) go to every
running in-process server.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol

from ...errors import DevshellError

if TYPE_CHECKING:
    from ...config import Config
    from ..web.application import Root
    from ..modes.server import Server

CAPTURED_LOGGERS = ("devshell.server", "devshell.messaging", "devshell.http")
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_tag = threading.local()


class LineSink(Protocol):
    def append(self, line: str) -> None: ...


@contextlib.contextmanager
def tagged(sink: LineSink) -> Iterator[None]:
    """Records logged by this thread meanwhile go to *sink*."""
    previous = getattr(_tag, "sink", None)
    _tag.sink = sink
    try:
        yield
    finally:
        _tag.sink = previous


class _Router(logging.Handler):
    """Routes server records to the sinks of the running in-process servers."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LINE_FORMAT))
        self.sinks: list[LineSink] = []
        self._saved: dict[str, tuple[bool, int]] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        sink = getattr(_tag, "sink", None)
        for target in [sink] if sink is not None else list(self.sinks):
            target.append(line)

    def attach(self, sink: LineSink, level: str) -> None:
        with self._guard:
            if not self.sinks:
                for name in CAPTURED_LOGGERS:
                    logger = logging.getLogger(name)
                    self._saved[name] = (logger.propagate, logger.level)
                    logger.addHandler(self)
                    logger.propagate = False
                    logger.setLevel(level.upper())
            self.sinks.append(sink)

    def detach(self, sink: LineSink) -> None:
        with self._guard:
            if sink not in self.sinks:
                return
            self.sinks.remove(sink)
            if not self.sinks:
                for name, (propagate, level) in self._saved.items():
                    logger = logging.getLogger(name)
                    logger.removeHandler(self)
                    logger.propagate = propagate
                    logger.setLevel(level)
                self._saved.clear()


_router = _Router()


@functools.cache
def _tagging_root() -> "type[Root]":
    """``Root`` whose request threads log into the sink of their server."""
    from ..web.application import Root

    class TaggingRoot(Root):
        log_sink: LineSink | None = None

        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            _tag.sink = self.log_sink
            return super().__call__(environ, start_response)

    return TaggingRoot


class InProcessServer:
    """A threaded server in this process: werkzeug's accept thread plus cron threads, no signal handlers."""

    def __init__(self, config: "Config", sink: LineSink) -> None:
        self.config = config
        self.sink = sink
        self.pid = os.getpid()
        self._server: Server | None = None

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.started

    def state(self) -> str:
        return "running" if self.running else "stopped"

    def start(self, timeout: float) -> None:
        """Bind and serve; returns once connections are accepted (*timeout* is not needed in-process)."""
        from ..modes.threaded_server import ThreadedServer

        _router.attach(self.sink, self.config["log_level"])
        app: Root | None = None
        try:
            with tagged(self.sink):
                app = _tagging_root()(self.config)
                app.log_sink = self.sink  # type: ignore[attr-defined]
                server = ThreadedServer(self.config, app=app)
                try:
                    server.start()
                except SystemExit as exc:  # werkzeug exits on some bind errors: never let that out
                    raise DevshellError(f"the threaded server could not start (exit status {exc.code})") from None
                server.report()
        except BaseException:
            if app is not None:
                with contextlib.suppress(Exception):
                    app.close()
            _router.detach(self.sink)
            raise
        self._server = server

    def wait_ready(self, timeout: float) -> None:
        """In-process, ``start()`` returns ready: nothing to wait for."""

    def stop(self, timeout: float | None) -> bool:
        server, self._server = self._server, None
        if server is None:
            return True
        try:
            with tagged(self.sink):
                return server.stop(timeout)
        finally:
            _router.detach(self.sink)
