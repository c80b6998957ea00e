"""gevent mode (seed): one process, gevent's WSGI server on ``gevent_port``, a greenlet per connection.

Made for long polling: thousands of idle polls cost a greenlet and a socket each,
and one LISTEN connection wakes them all. The process must be monkey-patched
before anything imports socket or threading, so :meth:`GeventServer.run` first
re-executes the process (same pid) through ``python -m devshell.server.gevent_main``,
whose first act is the patching. The WSGI server itself (NODELAY, time limit per
request) is in :mod:`devshell.server.gevent_wsgi`; the watchdog stops the process
when its parent is gone or its memory passes ``limit_memory_soft``.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, NoReturn

from gevent import monkey

from ..errors import UsageError
from .base import GEVENT_ENTRY_MODULE, GRACEFUL_TIMEOUT, LONGPOLLING_BACKLOG, Server, remaining
from .lifecycle import Heartbeat, SignalQueue, Watchdog, parent_pid_from_environment, \
    settings_environment

if TYPE_CHECKING:
    from ..config import Config
    from .app import Root
    from .gevent_wsgi import DevshellWSGIServer

_logger = logging.getLogger("devshell.server")

KILL_IDLE_TIMEOUT = 1.0


def patched() -> bool:
    """True when this process was monkey-patched by gevent (sockets and threads cooperate)."""
    return monkey.is_module_patched("socket") and monkey.is_module_patched("threading")


def exec_patched(config: "Config") -> NoReturn:
    """Become ``python -m devshell.server.gevent_main server --mode gevent`` (same pid, same settings)."""
    environ = {**os.environ, **settings_environment(config)}
    argv = [sys.executable, "-m", GEVENT_ENTRY_MODULE, "server", "--mode", "gevent"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, environ)


class GeventServer(Server):
    """``devshell server --mode gevent``: the whole application on ``gevent_port``, greenlets for everything."""

    mode = "gevent"
    port_flag = "--gevent-port"
    listen_backlog = LONGPOLLING_BACKLOG

    def __init__(self, config: "Config", *, app: "Root | None" = None) -> None:
        super().__init__(config, app=app)
        self.requested_port = config["gevent_port"]
        self.heartbeat = Heartbeat.from_environment()  #: set when the prefork master supervises us
        self._httpd: DevshellWSGIServer | None = None
        self._bound_port = 0

    @property
    def port(self) -> int:
        return self._bound_port or self.requested_port

    @property
    def supervised(self) -> bool:
        return self.heartbeat is not None

    @property
    def pidfile_path(self) -> str | None:
        return None if self.supervised else self.config["pidfile"]

    def run(self) -> int:
        if not patched():
            exec_patched(self.config)
        faulthandler.register(signal.SIGQUIT, all_threads=True)  # SIGQUIT: dump the stack, keep serving
        return super().run()

    def watchdog(self, signals: SignalQueue) -> Watchdog:
        return Watchdog(signals, parent_pid=parent_pid_from_environment(),
                        memory_limit=self.config["limit_memory_soft"], heartbeat=self.heartbeat)

    def start(self) -> None:
        if self.started:
            return
        if not patched():
            raise UsageError("gevent mode needs a process monkey-patched by gevent first: run "
                             "`devshell server --mode gevent` (or start_server(mode='gevent'))")
        from .gevent_wsgi import DevshellWSGIServer

        self.check_root()
        app = self._app_for_start()
        try:
            sock = self._listening_socket()
        except BaseException:
            self._release_app()
            raise
        self._bound_port = int(sock.getsockname()[1])
        self._httpd = DevshellWSGIServer(sock, app, float(self.config["limit_time_real"]))
        self._httpd.start()
        self._start_cron(app)
        self.started = True

    def report(self) -> list[str]:
        if not self.supervised:
            return super().report()
        line = f"long polling on {self.url} (gevent process {os.getpid()})"
        _logger.info(line)
        return [line]

    def stop(self, timeout: float | None = GRACEFUL_TIMEOUT, *, handoff: bool = False) -> bool:
        if not self.started or self._httpd is None or self.app is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        httpd, app = self._httpd, self.app
        httpd.stop_accepting()
        _logger.info("not accepting connections any more; %d in flight", len(httpd.requests))
        app.stopping = True
        app.listener.wake_all()  # long polls answer now instead of at their timeout
        finished = httpd.drain(remaining(deadline))
        if not handoff:
            httpd.close()
        httpd.pool.kill(block=True, timeout=KILL_IDLE_TIMEOUT)  # idle keep-alive connections
        if self._cron is not None:
            finished = self._cron.stop(remaining(deadline)) and finished
        self._release_app()
        if not handoff:
            self._httpd = None
        self._cron = None
        self.started = False
        if not finished:
            _logger.warning("stopped with requests or cron jobs still running")
        return bool(finished)

    def listen_fd(self) -> int | None:
        return self._httpd.socket.fileno() if self._httpd is not None else None
