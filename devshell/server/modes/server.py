"""The in-process servers' base: threaded and gevent serve one application in this process.

A :class:`Server` can be started in-process (``start()`` / ``stop()``: no signal
handlers, port 0 allowed, the bound port reported) or run in the foreground
(``run()``, see :mod:`.foreground`). Both modes stop the same way; they differ
in the hooks :meth:`Server._stop_accepting`, :meth:`Server._drain` and
:meth:`Server._close`, the way werkzeug's servers differ by a mixed-in class.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

from .listening_socket import DEFAULT_BACKLOG, listening_socket

if TYPE_CHECKING:
    import socket

    from ...config import Config
    from ...site import Site
    from ..web.application import Root
    from .cron_runner import CronService
    from .signals import SignalQueue
    from .supervision import Watchdog

logger = logging.getLogger(__name__)

GRACEFUL_TIMEOUT = 60.0


def remaining(deadline: float | None) -> float | None:
    """Seconds left until *deadline* (a time.monotonic() value), never negative; None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def url_of(interface: str, port: int) -> str:
    host = f"[{interface}]" if ":" in interface else interface
    return f"http://{host}:{port}/"


class Server:
    """One application served by this process; subclasses bind in :meth:`start` and fill the stop hooks."""

    mode: ClassVar[str] = ""
    cron_label: ClassVar[str] = "cron threads"
    port_flag: ClassVar[str] = "--http-port"  #: named in the "port in use" error
    listen_backlog: ClassVar[int] = DEFAULT_BACKLOG

    def __init__(self, config: "Config", *, app: "Root | None" = None) -> None:
        self.config = config
        self.app = app
        self.interface: str = config["http_interface"]
        self.requested_port: int = config["http_port"]
        self.started = False
        self._root_checked = False
        self._startup_checked = False
        self._site: "Site | None" = None
        self._own_app = False  #: True when start() built the app, so stop() drops it
        self._cron: "CronService | None" = None
        self._httpd: Any = None  #: the WSGI server of the mode, while started (kept for a restart's hand-over)
        self._bound_port = 0

    # -- what it is ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port once started (stays known after stop), else the requested one."""
        return self._bound_port or self.requested_port

    @property
    def url(self) -> str:
        return url_of(self.interface, self.port)

    @property
    def site(self) -> "Site":
        """What this server serves: its app's site, else one for its configuration (resolved on first use)."""
        if self.app is not None:
            return self.app.site
        if self._site is None:
            from ...site import Site

            self._site = Site(self.config)
        return self._site

    @property
    def pidfile_path(self) -> str | None:
        """The ``--pidfile`` this process owns (none for a process supervised by another devshell)."""
        return self.config["pidfile"]

    def listen_fd(self) -> int | None:
        """The listening socket's descriptor, for a restart to hand over."""
        return self._httpd.socket.fileno() if self._httpd is not None else None

    # -- starting ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in background threads (greenlets); returns once requests are accepted."""
        raise NotImplementedError

    def check_root(self) -> None:
        """The root policy for our interface (once per server: run() checks before the pidfile)."""
        from .foreground import check_root_policy

        if not self._root_checked:
            check_root_policy(self.config, self.interface)
            self._root_checked = True

    def check_startup(self) -> None:
        """Refuse what cannot be served (see :func:`.foreground.check_startup`), once, before binding."""
        from .foreground import check_startup

        if not self._startup_checked:
            check_startup(self.site)
            self._startup_checked = True

    def _app_for_start(self) -> "Root":
        """The app to serve: the one given, or a new one that stop() will drop again."""
        from ..web.application import Root

        self.check_startup()
        self._own_app = self.app is None
        self.app = self.app or Root(self.site)
        return self.app

    def _listening_socket(self) -> "socket.socket":
        return listening_socket(self.interface, self.requested_port, flag=self.port_flag,
                                backlog=self.listen_backlog)

    def _start_cron(self, app: "Root") -> None:
        """``max_cron_threads`` cron threads in this process (none when it is 0)."""
        from .cron_runner import CronService

        threads = self.config["max_cron_threads"]
        if threads > 0:
            self._cron = CronService(app.databases, app.listener, app.jobs_for, app.cron_databases, threads)
            self._cron.start()

    def _release_app(self) -> None:
        """Close the application; one we created is dropped, so a later start() builds a fresh one."""
        if self.app is not None:
            self.app.close()
            if self._own_app:
                self.app = None

    # -- stopping ----------------------------------------------------------------------------------

    def stop(self, timeout: float | None = GRACEFUL_TIMEOUT, *, handoff: bool = False) -> bool:
        """Stop accepting, finish in-flight requests and cron jobs (up to *timeout*); True when all finished.

        With *handoff*, the listening socket stays open for :meth:`listen_fd` (restart).
        """
        if not self.started or self._httpd is None or self.app is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        app = self.app
        in_flight = self._stop_accepting(handoff)
        logger.info("not accepting connections any more; %d in flight", in_flight)
        app.stopping = True
        app.listener.wake_all()  # long polls answer now instead of at their timeout
        app.websockets.close_all()  # WebSockets close with 1012: their clients reconnect elsewhere or later
        finished = self._drain(remaining(deadline))
        self._close(handoff)
        if self._cron is not None:
            finished = self._cron.stop(remaining(deadline)) and finished
        self._release_app()
        if not handoff:
            self._httpd = None
        self._cron = None
        self.started = False
        if not finished:
            logger.warning("stopped with requests or cron jobs still running")
        return finished

    def _stop_accepting(self, handoff: bool) -> int:
        """Accept no new connection (closing the listening socket unless *handoff*); the requests in flight."""
        raise NotImplementedError

    def _drain(self, timeout: float | None) -> bool:
        """Wait for the requests in flight; True when none is left within *timeout*."""
        raise NotImplementedError

    def _close(self, handoff: bool) -> None:
        """Release what the mode's WSGI server holds besides the listening socket kept by *handoff*."""

    # -- the foreground ----------------------------------------------------------------------------

    def run(self) -> int:
        """Serve in the foreground until SIGINT/SIGTERM (a second one forces); SIGHUP restarts."""
        from .foreground import run_in_foreground

        return run_in_foreground(self)

    def watchdog(self, signals: "SignalQueue") -> "Watchdog":
        """What stops this server by itself: its parent going away (``DEVSHELL_PARENT_PID``)."""
        from .supervision import Watchdog, parent_pid_from_environment

        return Watchdog(signals, parent_pid=parent_pid_from_environment())

    def report(self) -> list[str]:
        """Log the startup report; its last line, ``serving URL``, says that requests are accepted."""
        from .foreground import log_lines, startup_report

        assert self.app is not None, "report() follows start()"
        return log_lines(startup_report(self.app.site, self.mode, self.url, self.cron_label))
