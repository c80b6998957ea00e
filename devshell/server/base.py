"""The server hierarchy and its one factory.

:func:`make_server` picks the class for a mode and rejects impossible
combinations early (werkzeug's ``make_server`` is the model). Every server can be
started in-process (``start()`` / ``stop()``: no signal handlers, port 0 allowed,
the bound port reported) or run in the foreground (``run()``: startup checks,
pidfile, startup report, signals).
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import logging
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import DevshellError, UsageError
from .lifecycle import (RELOAD, STOP_SIGNALS, CodeWatcher, SignalQueue, Watchdog, parent_pid_from_environment,
                        reexec, signal_name)

if TYPE_CHECKING:
    from .cron import CronService
    from ..config import Config
    from ..db.connection import ServerAddress
    from .app import Root

_logger = logging.getLogger("devshell.server")
_access = logging.getLogger("devshell.http")

#: mode -> "module:class", imported only when that mode is asked for
SERVER_CLASSES: dict[str, str] = {
    "threaded": "devshell.server.threaded:ThreadedServer",
    "gevent": "devshell.server.gevent:GeventServer",
    "prefork": "devshell.server.prefork:PreforkServer",
}
MODES = tuple(SERVER_CLASSES)
#: mode -> the distributions it runs on (the optional dependencies ``devshell[gevent]`` / ``[prefork]``)
MODE_REQUIREMENTS = {"gevent": ("gevent", "psycogreen"), "prefork": ("gunicorn", "gevent", "psycogreen")}
GEVENT_ENTRY_MODULE = "devshell.server.gevent_main"  #: gevent mode's process: monkey-patched first thing
LONGPOLLING_BACKLOG = 2048  #: gevent mode's listen backlog: thousands of pollers may (re)connect at once
GRACEFUL_TIMEOUT = 60.0
EXIT_OK, EXIT_FORCED = 0, 1


LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str = "info") -> None:
    """Log to stderr (the access log included) at *level*, for a server run from the command line."""
    if level.lower() not in LOG_LEVELS:
        raise UsageError(f"log_level {level!r}: choose one of {', '.join(LOG_LEVELS)}")
    root = logging.getLogger()
    if not any(getattr(handler, "_devshell", False) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._devshell = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())


def resolve_mode(mode: str, config: "Config") -> str:
    """*mode*, or prefork when workers > 0 and no mode was chosen; a chosen non-prefork mode is refused."""
    workers = config["workers"]
    if workers > 0 and mode != "prefork":
        if mode == config["mode"] and not config.is_set("mode"):
            return "prefork"  # --workers N alone implies prefork (seed)
        raise UsageError(f"--workers {workers} runs HTTP worker processes, which only prefork mode has: "
                         f"drop --mode {mode}, or use --workers 0")
    return mode


class AccessLog:
    """One line per request on ``devshell.http``, in LOG_FORMAT, written straight to devshell's log stream.

    Through the logging module a line costs more than serving a small route, so
    the gevent and prefork servers format it here (the time once per second) and
    write it in one call. The ``devshell.http`` level is honoured; when logging
    was set up by someone else (no devshell handler), lines go through it.
    """

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""
        self._handlers: list[logging.Handler] = []
        self._stream: Any = None

    def enabled(self) -> bool:
        return _access.isEnabledFor(logging.INFO)

    def log(self, message: str) -> None:
        handlers = logging.getLogger().handlers
        if handlers != self._handlers:  # (re)configured: find devshell's handler again
            self._handlers = list(handlers)
            self._stream = next((getattr(handler, "stream", None) for handler in handlers
                                 if getattr(handler, "_devshell", False)), None)
        stream = self._stream
        if stream is None:
            _access.info("%s", message)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        asctime = f"{self._stamp},{int((now - second) * 1000):03d}"
        stream.write(LOG_FORMAT % {"asctime": asctime, "process": os.getpid(), "levelname": "INFO",
                                   "name": _access.name, "message": message} + "\n")
        stream.flush()


def make_server(mode: str, config: "Config", *, app: "Root | None" = None) -> "Server":
    """A server of *mode* for *config* (not started); ``--workers N`` alone means prefork."""
    if mode not in SERVER_CLASSES:
        raise UsageError(f"unknown server mode {mode!r}: choose one of {', '.join(SERVER_CLASSES)}")
    mode = resolve_mode(mode, config)
    missing = [name for name in MODE_REQUIREMENTS.get(mode, ()) if importlib.util.find_spec(name) is None]
    if missing:
        extra = "gevent,prefork" if mode == "prefork" else mode
        raise UsageError(f"{mode} mode needs {' and '.join(missing)}: pip install 'devshell[{extra}]'")
    module_name, _, class_name = SERVER_CLASSES[mode].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UsageError(f"server mode {mode!r} is not available in this version of devshell") from None
    server: Server = getattr(module, class_name)(config, app=app)
    return server


def bind_socket(interface: str, port: int, *, flag: str = "--http-port", backlog: int = 128) -> socket.socket:
    """A listening TCP socket on exactly *interface*, or one clear error line (naming *flag*)."""
    try:
        infos = socket.getaddrinfo(interface, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {interface!r}: {exc.strerror} (check --http-interface)") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DevshellError(f"port {port} on {interface} is in use by another program: stop it, or choose "
                                f"another port with {flag} (0 picks a free one)") from None
        if exc.errno == errno.EACCES:
            default = 8072 if flag == "--gevent-port" else 8069
            raise DevshellError(f"permission denied listening on port {port}: ports below 1024 need "
                                f"privileges, use {flag} {default}") from None
        raise DevshellError(f"cannot listen on {interface}:{port}: {exc.strerror}") from None
    return sock


class Server:
    """What every mode provides; subclasses implement :meth:`start`, :meth:`stop` and ``port``."""

    mode: ClassVar[str] = ""
    cron_label: ClassVar[str] = "cron threads"
    port_flag: ClassVar[str] = "--http-port"  #: named in the "port in use" error
    listen_backlog: ClassVar[int] = 128

    def __init__(self, config: "Config", *, app: "Root | None" = None) -> None:
        self.config = config
        self.app = app
        self.interface: str = config["http_interface"]
        self.requested_port: int = config["http_port"]
        self.started = False
        self.database_address: ServerAddress | None = None  #: the database server, when there is no app
        self._root_checked = False
        self._own_app = False  #: True when start() built the app, so stop() drops it
        self._cron: "CronService | None" = None

    def _app_for_start(self) -> "Root":
        """The app to serve: the one given, or a new one that stop() will drop again."""
        from .app import Root

        self._own_app = self.app is None
        self.app = self.app or Root(self.config, mode=self.mode)
        return self.app

    def _listening_socket(self) -> socket.socket:
        """The socket handed over by a re-exec (SIGHUP, reload), else a new one bound to our port."""
        from .lifecycle import inherited_socket

        infos = socket.getaddrinfo(self.interface, self.requested_port, type=socket.SOCK_STREAM)
        family, address = infos[0][0], infos[0][4]
        return inherited_socket(family, address) or bind_socket(
            self.interface, self.requested_port, flag=self.port_flag, backlog=self.listen_backlog)

    def _release_app(self) -> None:
        """Close the application; one we created is dropped, so a later start() builds a fresh one."""
        if self.app is not None:
            self.app.close()
            if self._own_app:
                self.app = None

    def _start_cron(self, app: "Root") -> None:
        """``max_cron_threads`` cron threads in this process (none when it is 0)."""
        from .cron import CronService

        threads = self.config["max_cron_threads"]
        if threads > 0:
            self._cron = CronService(app.databases, app.listener, app.jobs_for, app.cron_databases, threads)
            self._cron.start()

    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def url(self) -> str:
        host = f"[{self.interface}]" if ":" in self.interface else self.interface
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Bind and serve in background threads; returns once requests are accepted."""
        raise NotImplementedError

    def stop(self, timeout: float | None = GRACEFUL_TIMEOUT, *, handoff: bool = False) -> bool:
        """Stop accepting, finish in-flight requests (up to *timeout*); True when all finished.

        With *handoff*, the listening socket stays open for :meth:`listen_fd` (restart).
        """
        raise NotImplementedError

    def listen_fd(self) -> int | None:
        return None

    @property
    def pidfile_path(self) -> str | None:
        """The ``--pidfile`` this process owns (none for a process supervised by another devshell)."""
        return self.config["pidfile"]

    def check_root(self) -> None:
        """The root policy for our interface (once per server: run() checks before the pidfile)."""
        from ..checks import check_root

        if self._root_checked:
            return
        warning = check_root(self.interface, self.config["allow_root"])
        self._root_checked = True
        if warning:
            _logger.warning(warning)

    def report(self) -> list[str]:
        """Log the startup report; its last line, ``serving URL``, says that requests are accepted."""
        lines = self.report_lines()
        for line in lines:
            _logger.info(line)
        return lines

    def report_lines(self) -> list[str]:
        """The startup report (seed): version, config file, addons paths, database server, URL."""
        from .. import __version__
        from ..modules import addons_paths
        from .dbbind import parse_names

        config = self.config
        lines = [f"devshell {__version__}, {self.mode} server, pid {os.getpid()}",
                 "config files: " + (", ".join(str(f) for f in config.files) or "none"),
                 "addons paths: " + ", ".join(str(p) for p in addons_paths(config))]
        address = self.app.address if self.app is not None else self.database_address
        if address is not None:
            lines.append(f"database server: {address.describe()}")
            names = parse_names(config["db_name"])
            scope = [f"-d {','.join(names)}"] if names else []
            scope += [f"dbfilter {config['dbfilter']!r}"] if config["dbfilter"] else []
            lines.append("databases: " + (", ".join(scope) or "all"))
        lines.append(f"{self.cron_label}: {config['max_cron_threads']}")
        if config["dev"]:
            lines.append("dev: " + ",".join(config["dev"]))
        lines.append(f"serving {self.url}")
        return lines

    def run(self) -> int:
        """Serve in the foreground until SIGINT/SIGTERM (a second one forces); SIGHUP restarts."""
        from ..checks import Pidfile

        self.check_root()
        pidfile = Pidfile(self.pidfile_path) if self.pidfile_path else None
        if pidfile is not None:
            pidfile.create()
        signals = SignalQueue(install=True)
        watchdog = self.watchdog(signals)
        watcher = None
        try:
            self.start()
            self.report()
            watchdog.start()
            if {"reload", "all"} & set(self.config["dev"]):
                from ..modules import addons_paths

                watcher = CodeWatcher(addons_paths(self.config), lambda changed: (
                    _logger.info("changed: %s", ", ".join(changed)), signals.put(RELOAD)))
                watcher.start()
            event = self._wait(signals)
            if watcher is not None:
                watcher.stop()
            restart = event == signal.SIGHUP or event == RELOAD
            finished = self._stop_gracefully(signals, handoff=restart)
            if restart and finished:
                reexec(self.listen_fd())  # same pid: the pidfile stays ours
        finally:
            watchdog.stop()
            if watcher is not None:
                watcher.stop()
            signals.close()
            if pidfile is not None:
                pidfile.remove()
        if not finished:  # requests still running: leave without waiting for them
            logging.shutdown()
            os._exit(EXIT_FORCED)
        return EXIT_OK

    def watchdog(self, signals: SignalQueue) -> Watchdog:
        """What stops this server by itself: its parent going away (``DEVSHELL_PARENT_PID``)."""
        return Watchdog(signals, parent_pid=parent_pid_from_environment())

    def _wait(self, signals: SignalQueue) -> int | str:
        while True:
            event = signals.get(timeout=1.0)
            if event is not None:
                _logger.info("%s received", signal_name(event))
                return event

    def _stop_gracefully(self, signals: SignalQueue, *, handoff: bool) -> bool:
        """Stop in a helper thread so that a second SIGINT/SIGTERM can still force the exit."""
        result: list[bool] = []
        stopper = threading.Thread(target=lambda: result.append(self.stop(GRACEFUL_TIMEOUT, handoff=handoff)),
                                   name="devshell-stop", daemon=True)
        _logger.info("stopping: finishing in-flight requests (send the signal again to force)")
        stopper.start()
        while stopper.is_alive():
            event = signals.get(timeout=0.1)
            if event in STOP_SIGNALS:
                _logger.warning("%s received again: forced stop", signal_name(event))
                return False
        return bool(result and result[0])


def remaining(deadline: float | None) -> float | None:
    """Seconds left until *deadline* (a time.monotonic() value), never negative; None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())
