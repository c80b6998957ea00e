"""Servers in the background of a notebook or a shell: ``devshell.start_server()`` and its handles.

A :class:`ServerHandle` runs the threaded server inside this process, or a
gevent/prefork server as a child process, and keeps its last log lines. The
registry makes re-running a cell harmless: starting under a name or a port one
of our servers already uses stops that server first. Everything still running
is stopped when the interpreter exits.
"""

from __future__ import annotations

import atexit
import collections
import html
import threading
from typing import TYPE_CHECKING, Any, Callable

from ..errors import DevshellError, UsageError

if TYPE_CHECKING:
    from ..config import Config
    from .child import ChildServer
    from .inprocess import InProcessServer

MODES = ("threaded", "gevent", "prefork")
LOG_LINES = 1000
STOP_TIMEOUT = 5.0
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


class ServerHandle:
    """A server started by :func:`start_server`: its URL, state and logs; stop, restart, ``with``."""

    def __init__(self, mode: str, config: "Config", name: str) -> None:
        self.mode = mode
        self.name = name
        self.config = config
        self._log = LogBuffer()
        self._runner: InProcessServer | ChildServer | None = None
        self._port = 0
        self._lock = threading.RLock()

    # -- what it is ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (kept after a stop), else the one asked for."""
        return self._port or self.config["http_port"]

    @property
    def url(self) -> str:
        interface = self.config["http_interface"]
        host = f"[{interface}]" if ":" in interface else interface
        return f"http://{host}:{self.port}/"

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
        from .child import ChildServer
        from .inprocess import InProcessServer

        with self._lock:
            if self.running:
                return self
            runner = InProcessServer(self.config, self._log) if self.mode == "threaded" \
                else ChildServer(self.mode, self.config, self._log)
            try:
                runner.start(timeout)
            except DevshellError as exc:
                raise self._explain(exc) from None
            self._runner, self._port = runner, runner.port
        _register(self)
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
            _unregister(self)
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
        return f"<ServerHandle {self.name!r} {self.mode} {self.url} {self.status()}{pid}>"

    def _repr_html_(self) -> str:
        state = self.status()
        colour = {"running": "#1a7f37", "starting": "#9a6700"}.get(state, "#cf222e")
        url = html.escape(self.url)
        pid = f", pid {self.pid}" if self.pid else ""
        return (f'<div>devshell {html.escape(self.mode)} server <b>{html.escape(self.name)}</b>: '
                f'<a href="{url}" target="_blank">{url}</a> '
                f'<span style="color: {colour}">{html.escape(state)}</span>{pid}</div>')


# -- the registry ---------------------------------------------------------------------------------
_servers: dict[str, ServerHandle] = {}
_registry_lock = threading.RLock()
_atexit_registered = False


def _register(handle: ServerHandle) -> None:
    global _atexit_registered
    with _registry_lock:
        previous = _servers.get(handle.name)
        _servers[handle.name] = handle
        if not _atexit_registered:
            atexit.register(stop_all)
            _atexit_registered = True
    if previous is not None and previous is not handle:
        previous.stop()


def _unregister(handle: ServerHandle) -> None:
    with _registry_lock:
        if _servers.get(handle.name) is handle:
            del _servers[handle.name]


def servers() -> list[ServerHandle]:
    """The servers started by :func:`start_server` and not stopped, oldest first."""
    with _registry_lock:
        return list(_servers.values())


def stop_all(timeout: float | None = STOP_TIMEOUT) -> list[ServerHandle]:
    """Stop every server started by :func:`start_server` (also run at interpreter exit)."""
    stopped = servers()
    for handle in stopped:
        handle.stop(timeout)
    return stopped


def server_config(mode: str, db: str | None, port: int, options: dict[str, Any],
                  base: "Config | None" = None) -> "Config":
    """The configuration of a background server: *base* (default: loaded from the cwd) plus *options*."""
    from ..config import SETTINGS, load_config, suggestion

    if mode not in MODES:
        raise UsageError(f"unknown server mode {mode!r}: choose one of {', '.join(MODES)}")
    for key in options:
        if key not in SETTINGS:
            raise UsageError(f"unknown server option {key!r}{suggestion(key)}: options are configuration "
                             "keys, e.g. max_cron_threads=0, workers=2, dbfilter='^demo', addons_path=['addons']")
    overrides = {**options, "http_port": port, "mode": mode}
    if db is not None:
        overrides["db_name"] = db
    if mode != "threaded":  # the long-polling port must not collide either: a free one unless given
        overrides.setdefault("gevent_port", port if mode == "gevent" else 0)
    config = (base if base is not None else load_config()).with_overrides(overrides, source="start_server")
    if config["workers"] > 0 and mode != "prefork":
        raise UsageError(f"workers={config['workers']} needs mode='prefork' (workers > 0 implies prefork)")
    return config


def start_server(mode: str = "threaded", db: str | None = None, port: int = 0, name: str | None = None, *,
                 config: "Config | None" = None, timeout: float = READY_TIMEOUT, **options: Any) -> ServerHandle:
    """Start a devshell server in the background and return its handle once it is ready.

    *mode* threaded runs in this process; gevent and prefork run as child
    processes that exit with this one. *port* 0 picks a free port. *options* are
    configuration keys (``max_cron_threads=0``, ``workers=2``, ``dbfilter=…``).
    A server of ours already using *name* (default: the mode) or *port* is
    stopped first, so running a notebook cell again replaces its server.
    """
    settings = server_config(mode, db, port, options, config)
    name = name or mode
    with _registry_lock:
        clashing = [handle for handle in _servers.values() if handle.name == name or (port and handle.port == port)]
    for handle in clashing:
        handle.stop()
    return ServerHandle(mode, settings, name).start(timeout)


def server_function(db: str | None, config: "Config | None" = None) -> Callable[..., ServerHandle]:
    """``server(mode="threaded", **options)`` for a shell or kernel namespace: start_server on *db*."""

    def server(mode: str = "threaded", **options: Any) -> ServerHandle:
        """Start a server on this database in the background: server(), server("gevent"), server(port=8069)."""
        options.setdefault("db", db)
        options.setdefault("config", config)
        return start_server(mode, **options)

    server.__qualname__ = "server"
    return server
