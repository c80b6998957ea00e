"""gevent mode (seed): one process, gevent's WSGI server on ``gevent_port``, a greenlet per connection.

Made for long polling: thousands of idle polls cost a greenlet and a socket each,
and one LISTEN connection wakes them all. The process must be monkey-patched
before anything imports socket or threading: the notebook handles and the
prefork master start ``python -m devshell.server.modes.gevent_entry`` directly,
and ``devshell server --mode gevent`` re-executes itself into it (same pid). The
WSGI server itself (NODELAY, time limit per request) is in :mod:`.gevent_wsgi`;
the watchdog stops the process when its parent is gone or its memory passes
``limit_memory_soft``. Under the prefork master it also serves the connections
the HTTP workers hand over (long polls, WebSockets, slow clients:
:mod:`.prefork_handoff`).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

import gevent
from gevent import monkey

from ...errors import UsageError
from .listening_socket import LONGPOLLING_BACKLOG
from .reexec import exec_gevent_entry
from .server import Server
from .supervision import Heartbeat, Watchdog, parent_pid_from_environment

if TYPE_CHECKING:
    from ...config import Config
    from ..web.application import Root
    from .gevent_wsgi import DevshellWSGIServer
    from .signals import SignalQueue

logger = logging.getLogger(__name__)

KILL_IDLE_TIMEOUT = 1.0


def patched() -> bool:
    """True when this process was monkey-patched by gevent (sockets and threads cooperate)."""
    return monkey.is_module_patched("socket") and monkey.is_module_patched("threading")


class GeventServer(Server):
    """``devshell server --mode gevent``: the whole application on ``gevent_port``, greenlets for everything."""

    mode = "gevent"
    port_flag = "--gevent-port"
    listen_backlog = LONGPOLLING_BACKLOG
    _httpd: "DevshellWSGIServer | None"

    def __init__(self, config: "Config", *, app: "Root | None" = None) -> None:
        super().__init__(config, app=app)
        self.requested_port = config["gevent_port"]
        self.heartbeat = Heartbeat.from_environment()  #: set when the prefork master supervises us
        self._handoff: socket.socket | None = None  #: prefork: where the HTTP workers hand connections over
        self._handoff_greenlet: Any = None

    @property
    def supervised(self) -> bool:
        return self.heartbeat is not None

    @property
    def pidfile_path(self) -> str | None:
        return None if self.supervised else self.config["pidfile"]

    def run(self) -> int:
        if not patched():
            self.check_startup()  # refused here, where the error names the flag (not the re-exec's variables)
            exec_gevent_entry(self.config)
        faulthandler.register(signal.SIGQUIT, all_threads=True)  # SIGQUIT: dump the stack, keep serving
        return super().run()

    def watchdog(self, signals: "SignalQueue") -> Watchdog:
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
        self._receive_handoffs(self._httpd)
        self._start_cron(app)
        self.started = True

    def report(self) -> list[str]:
        if not self.supervised:
            return super().report()
        line = f"long polling on {self.url} (gevent process {os.getpid()})"
        logger.info(line)
        return [line]

    def _receive_handoffs(self, httpd: "DevshellWSGIServer") -> None:
        """In prefork mode: serve the connections the HTTP workers hand over, as if accepted here."""
        from .prefork_handoff import inherited_receiver, receive_connections

        receiver = self._handoff or inherited_receiver()
        if receiver is not None:
            self._handoff = receiver
            self._handoff_greenlet = gevent.spawn(receive_connections, receiver, httpd.adopt)

    def _stop_accepting(self, handoff: bool) -> int:
        assert self._httpd is not None
        self._httpd.stop_accepting()
        if self._handoff_greenlet is not None:  # connections handed over from now on wait for the next process
            self._handoff_greenlet.kill(block=True)
            self._handoff_greenlet = None
        return len(self._httpd.requests)

    def _drain(self, timeout: float | None) -> bool:
        assert self._httpd is not None
        return self._httpd.drain(timeout)

    def _close(self, handoff: bool) -> None:
        assert self._httpd is not None
        if not handoff:
            self._httpd.close()
        self._httpd.pool.kill(block=True, timeout=KILL_IDLE_TIMEOUT)  # idle keep-alive connections
