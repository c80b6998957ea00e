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
import logging
import os
import signal
import socket
import threading
from typing import TYPE_CHECKING, ClassVar

from ..errors import DevshellError, UsageError
from .lifecycle import RELOAD, STOP_SIGNALS, CodeWatcher, SignalQueue, reexec, signal_name

if TYPE_CHECKING:
    from ..config import Config
    from .app import Root

_logger = logging.getLogger("devshell.server")

#: mode -> "module:class", imported only when that mode is asked for
SERVER_CLASSES: dict[str, str] = {
    "threaded": "devshell.server.threaded:ThreadedServer",
    "gevent": "devshell.server.gevent:GeventServer",
    "prefork": "devshell.server.prefork:PreforkServer",
}
MODES = tuple(SERVER_CLASSES)
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


def make_server(mode: str, config: "Config", *, app: "Root | None" = None) -> "Server":
    """A server of *mode* for *config* (not started)."""
    if mode not in SERVER_CLASSES:
        raise UsageError(f"unknown server mode {mode!r}: choose one of {', '.join(SERVER_CLASSES)}")
    if config["workers"] > 0 and mode != "prefork":
        raise UsageError(f"--workers {config['workers']} needs --mode prefork (workers > 0 implies prefork)")
    module_name, _, class_name = SERVER_CLASSES[mode].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UsageError(f"server mode {mode!r} is not available in this version of devshell") from None
    server: Server = getattr(module, class_name)(config, app=app)
    return server


def bind_socket(interface: str, port: int) -> socket.socket:
    """A listening TCP socket on exactly *interface*, or one clear error line."""
    try:
        infos = socket.getaddrinfo(interface, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {interface!r}: {exc.strerror} (check --http-interface)") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DevshellError(f"port {port} on {interface} is in use by another program: stop it, or choose "
                                "another port with --http-port (0 picks a free one)") from None
        if exc.errno == errno.EACCES:
            raise DevshellError(f"permission denied listening on port {port}: ports below 1024 need "
                                "privileges, use --http-port 8069") from None
        raise DevshellError(f"cannot listen on {interface}:{port}: {exc.strerror}") from None
    return sock


class Server:
    """What every mode provides; subclasses implement :meth:`start`, :meth:`stop` and ``port``."""

    mode: ClassVar[str] = ""

    def __init__(self, config: "Config", *, app: "Root | None" = None) -> None:
        self.config = config
        self.app = app
        self.interface: str = config["http_interface"]
        self.requested_port: int = config["http_port"]
        self.started = False
        self._root_checked = False

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
        """The startup report (seed): version, config file, addons paths, database server, URL."""
        from .. import __version__
        from ..modules import addons_paths

        config, app = self.config, self.app
        lines = [f"devshell {__version__}, {self.mode} server, pid {os.getpid()}",
                 "config files: " + (", ".join(str(f) for f in config.files) or "none"),
                 "addons paths: " + ", ".join(str(p) for p in addons_paths(config))]
        if app is not None:
            lines.append(f"database server: {app.address.describe()}")
            scope = [f"-d {','.join(app.databases.names)}"] if app.databases.names else []
            scope += [f"dbfilter {app.databases.dbfilter!r}"] if app.databases.dbfilter else []
            lines.append("databases: " + (", ".join(scope) or "all"))
        lines.append(f"cron threads: {config['max_cron_threads']}")
        if config["dev"]:
            lines.append("dev: " + ",".join(config["dev"]))
        lines.append(f"serving {self.url}")
        for line in lines:
            _logger.info(line)
        return lines

    def run(self) -> int:
        """Serve in the foreground until SIGINT/SIGTERM (a second one forces); SIGHUP restarts."""
        from ..checks import Pidfile

        self.check_root()
        pidfile = Pidfile(self.config["pidfile"]) if self.config["pidfile"] else None
        if pidfile is not None:
            pidfile.create()
        signals = SignalQueue(install=True)
        watcher = None
        try:
            self.start()
            self.report()
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
            if watcher is not None:
                watcher.stop()
            signals.close()
            if pidfile is not None:
                pidfile.remove()
        if not finished:  # requests still running: leave without waiting for them
            logging.shutdown()
            os._exit(EXIT_FORCED)
        return EXIT_OK

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
