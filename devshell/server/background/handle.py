"""The handle of a background server: its URL, state and logs; stop, restart, ``with``.

A :class:`ServerHandle` runs the threaded server inside this process, or a
gevent/prefork server as a child process (the mode is ``config["mode"]``), and
keeps its last log lines. Started handles are kept in :mod:`.registry`.
"""

from __future__ import annotations

import collections
import html
import threading
from typing import TYPE_CHECKING, Any

from ...errors import DevshellError
from . import registry
from .registry import STOP_TIMEOUT

if TYPE_CHECKING:
    from ...config import Config
    from .child_process import ChildServer
    from .in_process import InProcessServer

LOG_LINES = 1000
READY_TIMEOUT = 60.0


class PortInUseError(DevshellError):
    """The port asked for is held by a process that is not one of our servers."""


class LogLines(list[str]):
    """Log lines that print as lines (``srv.logs()`` in a REPL or a notebook)."""

    def __repr__(self) -> str:
        return "\n".join(self) if self else "(no log lines yet)"

    __str__ = __repr__


class LogBuffer:
    """The last *size* lines a server logged (thread-safe ring buffer)."""

    def __init__(self, size: int = LOG_LINES) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def append(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def tail(self, count: int) -> list[str]:
        with self._lock:
            lines = list(self._lines)
        return lines[-count:] if count > 0 else []


class ServerURL(str):
    """A server's root URL (ending with ``/``) to which ``+ "/web/health"`` adds no second slash."""

    def __add__(self, other: str) -> str:
        if isinstance(other, str) and other.startswith("/"):
            other = other.lstrip("/")
        return str.__add__(self, other)


class ServerHandle:
    """A server started by :func:`start_server`: its URL, state and logs; stop, restart, ``with``.

    ``url`` is where this process reaches the server; ``public_url`` is where a
    browser does, which differs behind jupyter-server-proxy (*proxy_base*, see
    :mod:`.notebook_proxy`).
    """

    def __init__(self, config: "Config", name: str, proxy_base: str | None = None) -> None:
        self.name = name
        self.config = config
        self.proxy_base = proxy_base
        self._log = LogBuffer()
        self._runner: InProcessServer | ChildServer | None = None
        self._port = 0
        self._lock = threading.RLock()

    # -- what it is ------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return str(self.config["mode"])

    @property
    def port(self) -> int:
        """The bound port (kept after a stop), else the one asked for."""
        return self._port or self.config["http_port"]

    @property
    def url(self) -> ServerURL:
        """``http://127.0.0.1:PORT/``; ``srv.url + "web/health"`` and ``srv.url + "/web/health"`` both work."""
        interface = self.config["http_interface"]
        host = f"[{interface}]" if ":" in interface else interface
        return ServerURL(f"http://{host}:{self.port}/")

    @property
    def public_url(self) -> str:
        """The URL a browser opens: through jupyter-server-proxy (``/proxy/PORT/``) when proxied, else :attr:`url`."""
        return f"{self.proxy_base}{self.port}/" if self.proxy_base else str(self.url)

    def url_for(self, path: str = "", public: bool = False, **query: Any) -> str:
        """The URL of *path* on this server (``srv.url_for("web/health")``), with *query* as its query string;
        *public* gives the browser's URL (through the proxy, when there is one)."""
        from urllib.parse import urlencode

        base = self.public_url if public else self.url
        return base + path.lstrip("/") + (f"?{urlencode(query)}" if query else "")

    @property
    def websocket_url(self) -> str:
        """``ws://host:port/websocket``: the bus pushed as messages commit (add ``?db=NAME`` to choose the database)."""
        from ..web.websocket import websocket_url

        return websocket_url(self.url)

    @property
    def pid(self) -> int | None:
        """The process serving: this one for threaded, the child's for gevent and prefork."""
        return self._runner.pid if self._runner is not None else None

    @property
    def running(self) -> bool:
        return self._runner is not None and self._runner.running

    def status(self) -> str:
        """``running``, ``starting``, ``stopped`` or ``exited with code N``."""
        return self._runner.state() if self._runner is not None else "stopped"

    def logs(self, n: int = 20) -> LogLines:
        """The last *n* lines the server logged (access lines included)."""
        return LogLines(self._log.tail(n))

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = READY_TIMEOUT) -> "ServerHandle":
        """Start serving and return once ready; a failed start raises (a busy port names its holder)."""
        from .child_process import ChildServer
        from .in_process import InProcessServer

        with self._lock:
            if self.running:
                return self
            runner = InProcessServer(self.config, self._log) if self.mode == "threaded" \
                else ChildServer(self.config, self._log)
            try:
                runner.start(timeout)
            except DevshellError as exc:
                raise self._explain(exc) from None
            self._runner, self._port = runner, runner.port
        registry.register(self)
        return self

    def _explain(self, exc: DevshellError) -> DevshellError:
        """A failure caused by a busy port becomes an error naming the process that holds it."""
        from .ports import describe_port_user, listening_inodes

        for key in ("http_port", "gevent_port"):
            port = self.config[key]
            if port and listening_inodes(port):
                return PortInUseError(f"port {port} is in use by {describe_port_user(port)}: stop that "
                                      "process, or start on another port (port=0 picks a free one)")
        return exc

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> "ServerHandle":
        """Return once the server accepts connections (start() already waits; useful after a restart)."""
        runner = self._runner
        if runner is None:
            raise DevshellError(f"server {self.name!r} is stopped: call .restart()")
        runner.wait_ready(timeout)
        return self

    def stop(self, timeout: float | None = STOP_TIMEOUT) -> bool:
        """Stop, letting requests in flight finish for up to *timeout* seconds; True when all finished."""
        with self._lock:
            runner, self._runner = self._runner, None
            registry.unregister(self)
            return runner.stop(timeout) if runner is not None else True

    def restart(self, timeout: float = READY_TIMEOUT) -> "ServerHandle":
        """Stop and start again on the same port (the URL stays valid)."""
        with self._lock:
            self.stop()
            if self._port and not self.config["http_port"]:  # port 0 picked one: keep it
                same = {"http_port": self._port, **({"gevent_port": self._port} if self.mode == "gevent" else {})}
                self.config = self.config.with_overrides(same, source="start_server")
            return self.start(timeout)

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- display ---------------------------------------------------------------------------------
    def __repr__(self) -> str:
        pid = f" pid {self.pid}" if self.pid else ""
        proxied = f" (browser: {self.public_url})" if self.proxy_base else ""
        return f"<ServerHandle {self.name!r} {self.mode} {self.url}{proxied} {self.status()}{pid}>"

    def _repr_html_(self) -> str:
        state = self.status()
        colour = {"running": "#1a7f37", "starting": "#9a6700"}.get(state, "#cf222e")
        url = html.escape(self.public_url)
        pid = f", pid {self.pid}" if self.pid else ""
        return (f'<div>devshell {html.escape(self.mode)} server <b>{html.escape(self.name)}</b>: '
                f'<a href="{url}" target="_blank">{url}</a> '
                f'<span style="color: {colour}">{html.escape(state)}</span>{pid}</div>')
