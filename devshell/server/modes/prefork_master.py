"""prefork mode (seed): a devshell master supervising gunicorn, one gevent process and cron processes.

The master binds both ports itself and hands the sockets to its children, so a
child that restarts never closes a port; it also makes the channel through which
the HTTP workers pass long polls, WebSockets and slow clients to the gevent
process (:mod:`.prefork_handoff`), so the HTTP port serves everything. Its loop
reads as a list of verbs (gunicorn's arbiter is the model): process the queued signals, reap the dead
children, kill the ones whose heartbeat stopped (stack dump first, SIGKILL on a
later turn), spawn what is missing (with back-off for a child that keeps dying).
Signal handlers only queue. SIGHUP reloads every child without dropping a
request (gunicorn starts new workers before the old ones finish; a new gevent
process and new cron processes replace the old ones); SIGTTIN/SIGTTOU add or
remove an HTTP worker; SIGTERM drains and stops; SIGQUIT dumps every stack.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import socket
import time
from typing import TYPE_CHECKING

from ...site import Site
from ..web.websocket import websocket_url
from .code_watcher import watch_for_reload
from .foreground import check_root_policy, check_startup, log_lines, pidfile, startup_report
from .limits import check_memory_hard_limit, describe_limits
from .listening_socket import LONGPOLLING_BACKLOG, bind_socket
from .prefork_children import (CRON, HTTP, LONGPOLLING, MASTER_SIGNALS, Child, spawn_cron, spawn_http,
                               spawn_longpolling)
from .prefork_handoff import handoff_pair
from .prefork_triage import defer_accept
from .server import GRACEFUL_TIMEOUT, url_of
from .signals import RELOAD, STOP_SIGNALS, Event, SignalQueue, signal_name
from .supervision import WATCHDOG_INTERVAL, Heartbeat, Watchdog, parent_pid_from_environment

if TYPE_CHECKING:
    from ...config import Config

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 2  #: HTTP workers of ``--mode prefork`` without ``--workers``
MIN_UPTIME = 5.0  #: a child that dies younger than this counts as failing
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
FORCE_TIMEOUT = 5.0
EXIT_BOOT_ERRORS = (3, 4)  #: gunicorn's WORKER_BOOT_ERROR and APP_LOAD_ERROR: halt instead of respawning
EXIT_OK, EXIT_FAILED = 0, 1


class Backoff:
    """How soon a role may be spawned again: at once, or later and later while its children die young."""

    def __init__(self) -> None:
        self.failures = 0
        self.not_before = 0.0

    def record_exit(self, uptime: float) -> float:
        """Note a child's unexpected exit; the delay before the next spawn."""
        self.failures = self.failures + 1 if uptime < MIN_UPTIME else 0
        delay = min(BACKOFF_FIRST * 2 ** (self.failures - 1), BACKOFF_MAX) if self.failures else 0.0
        self.not_before = time.monotonic() + delay
        return delay


class PreforkMaster:
    """``devshell server --workers N``: the master process (foreground only: it owns its signals).

    Not a :class:`~.server.Server`: it serves nothing itself, it supervises the
    processes that do, in :meth:`run`'s loop.
    """

    mode = "prefork"
    cron_label = "cron processes"

    def __init__(self, config: "Config") -> None:
        self.config = config
        self.interface: str = config["http_interface"]
        self.requested_port: int = config["http_port"]
        self.workers = config["workers"] or DEFAULT_WORKERS
        self.cron_processes = config["max_cron_threads"]
        self.children: dict[int, Child] = {}
        self.backoff = {role: Backoff() for role in (HTTP, LONGPOLLING, CRON)}
        self.site = Site(config)  #: resolved once here, in the master: its children inherit it
        self.http_socket: socket.socket | None = None
        self.gevent_socket: socket.socket | None = None
        #: workers -> gevent process: (sending end, receiving end), kept here so either side may restart
        self.handoff: tuple[socket.socket, socket.socket] | None = None
        self.ports = (0, 0)  #: (HTTP, long polling) as bound
        self.running = False
        self.deadline: float | None = None  #: when stopping: children still alive then are killed
        self.exit_code = EXIT_OK

    @property
    def port(self) -> int:
        return self.ports[0] or self.requested_port

    @property
    def url(self) -> str:
        return url_of(self.interface, self.port)

    @property
    def longpolling_url(self) -> str:
        return url_of(self.interface, self.ports[1] or self.config["gevent_port"])

    # -- the master loop --------------------------------------------------------------------------

    def run(self) -> int:
        check_startup(self.site)  # refusals come first: before the root warning, the pidfile, any fork
        check_memory_hard_limit(self.config)
        with pidfile(self.config["pidfile"]):
            check_root_policy(self.config, self.interface)
            signals = SignalQueue(signals=MASTER_SIGNALS)
            watchdog = Watchdog(signals, parent_pid=parent_pid_from_environment())
            watcher = None
            try:
                self.site.address  # noqa: B018 - the embedded cluster starts once, here, before any fork
                self.bind()
                self.running = True
                self.process_spawn()
                self.report()
                watcher = watch_for_reload(self.config, signals)
                while self.running or self.children:
                    self.process_signals(signals)
                    watchdog.check()  # parent gone: a SIGTERM is queued for the next turn
                    self.process_zombies()
                    self.process_timeouts()
                    self.process_spawn()
            finally:
                if watcher is not None:
                    watcher.stop()
                self._close_sockets()
                for child in self.children.values():
                    if child.heartbeat is not None:
                        child.heartbeat.close()
                signals.close()
        logger.info("prefork master %d stopped", os.getpid())
        return self.exit_code

    def bind(self) -> None:
        """Both ports, bound here once: the children get the sockets, so a restarting child closes no port."""
        self.http_socket = bind_socket(self.interface, self.requested_port)
        self.gevent_socket = bind_socket(self.interface, self.config["gevent_port"], flag="--gevent-port",
                                         backlog=LONGPOLLING_BACKLOG)
        self.ports = (self.http_socket.getsockname()[1], self.gevent_socket.getsockname()[1])
        defer_accept(self.http_socket)  # a connection that sends nothing is not offered to a worker at once
        self.handoff = handoff_pair()

    def process_signals(self, signals: SignalQueue) -> None:
        """Handle every queued signal, waiting up to one watchdog interval for the first one."""
        event = signals.get(timeout=WATCHDOG_INTERVAL)
        while event is not None:
            self.handle(event)
            event = signals.get(timeout=0)

    def handle(self, event: Event) -> None:
        if event == signal.SIGCHLD:
            return  # reaped by process_zombies, next
        logger.info("%s received", signal_name(event))
        if event in STOP_SIGNALS:
            if self.running:
                self.begin_stop()
            else:  # the second one
                self.force_stop()
        elif not self.running:
            return  # stopping: no reload, no new workers
        elif event == signal.SIGHUP or event == RELOAD:
            self.reload()
        elif event in (signal.SIGTTIN, signal.SIGTTOU):
            self.workers = max(1, self.workers + (1 if event == signal.SIGTTIN else -1))
            logger.info("HTTP workers: %d", self.workers)
            self._signal_role(HTTP, int(event))
        elif event == signal.SIGQUIT:
            logger.info("stacks of the prefork master %d (its children dump theirs):", os.getpid())
            faulthandler.dump_traceback(all_threads=True)
            self._signal_role(None, signal.SIGQUIT)

    def process_zombies(self) -> None:
        """Reap every dead child (``waitpid(-1, WNOHANG)`` until none is left)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self._reaped(child, status)

    def process_timeouts(self) -> None:
        """Kill children whose heartbeat stopped (stack dump first, SIGKILL a turn later), and stragglers."""
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline and self.children:
            logger.warning("still running after the stop timeout: killing %s",
                            ", ".join(child.describe() for child in self.children.values()))
            self._signal_role(None, signal.SIGKILL)
            self.deadline = now + FORCE_TIMEOUT
            self.exit_code = EXIT_FAILED
            return
        for child in self.children.values():
            if child.dumped_at is not None:
                if now - child.dumped_at >= WATCHDOG_INTERVAL:
                    child.signal(signal.SIGKILL)
            elif child.stale():
                logger.critical("%s showed no sign of life for %.0f s: dumping its stack, then killing it",
                                 child.describe(), child.timeout)
                child.dumped_at = now
                child.signal(signal.SIGQUIT)

    def process_spawn(self) -> None:
        """Start the children that are missing: one gunicorn, one gevent process, the cron processes."""
        if not self.running:
            return
        for role, wanted in ((HTTP, 1), (LONGPOLLING, 1), (CRON, self.cron_processes)):
            live = sum(1 for child in self.children.values() if child.role == role and not child.retiring)
            while live < wanted and time.monotonic() >= self.backoff[role].not_before:
                child = self._spawn(role)
                self.children[child.pid] = child
                live += 1

    # -- the verbs' helpers -------------------------------------------------------------------------

    def _spawn(self, role: str) -> Child:
        assert self.http_socket is not None and self.gevent_socket is not None and self.handoff is not None
        handoff_send, handoff_receive = self.handoff
        sockets: list[socket.socket] = [self.http_socket, self.gevent_socket, handoff_send, handoff_receive]
        heartbeats = [child.heartbeat for child in self.children.values() if child.heartbeat is not None]
        timeout = float(self.config["limit_time_real"])
        if role == HTTP:
            pid = spawn_http(self.site, self.http_socket, self.workers, self.ports[1],
                             close=[self.gevent_socket, handoff_receive, *heartbeats], handoff=handoff_send)
            return Child(HTTP, pid)
        heartbeat = Heartbeat()
        if role == LONGPOLLING:
            pid = spawn_longpolling(self.config, self.gevent_socket, heartbeat, handoff_receive)
        else:
            pid = spawn_cron(self.site, heartbeat, close=[*sockets, *heartbeats])
        return Child(role, pid, heartbeat, timeout)

    def _reaped(self, child: Child, status: int) -> None:
        if child.heartbeat is not None:
            child.heartbeat.close()
        code = os.waitstatus_to_exitcode(status)
        how = f"exited with code {code}" if code >= 0 else f"was killed by {signal.Signals(-code).name}"
        if child.retiring or not self.running:
            logger.info("%s %s", child.describe(), how)
            return
        if child.role == HTTP and code in EXIT_BOOT_ERRORS:
            logger.error("%s %s: the HTTP workers cannot start (see above); stopping", child.describe(), how)
            self.exit_code = EXIT_FAILED
            self.begin_stop()
            return
        delay = self.backoff[child.role].record_exit(time.monotonic() - child.started)
        logger.warning("%s %s; %s", child.describe(), how,
                        f"starting another in {delay:g} s" if delay else "starting another")

    def _signal_role(self, role: str | None, number: int) -> None:
        for child in list(self.children.values()):
            if role is None or child.role == role:
                child.signal(number)

    def reload(self) -> None:
        """New children with fresh code; the old ones finish what they are doing (no request dropped)."""
        logger.info("reloading: new HTTP workers, gevent process and cron processes")
        self._signal_role(HTTP, signal.SIGHUP)  # gunicorn: new workers first, then the old ones stop gracefully
        for child in self.children.values():
            if child.role != HTTP and not child.retiring:
                child.retiring = True
                child.signal(signal.SIGTERM)
        for backoff in self.backoff.values():
            backoff.not_before = 0.0

    def begin_stop(self) -> None:
        """Stop accepting, let the children finish their requests and jobs (SIGTERM), then leave."""
        if not self.running:
            return
        self.running = False
        logger.info("stopping: finishing in-flight requests (send the signal again to force)")
        self._close_sockets()  # the children hold their own copies until they are done
        for child in self.children.values():
            child.retiring = True
        self._signal_role(None, signal.SIGTERM)
        grace = self.config["limit_time_real"] or GRACEFUL_TIMEOUT
        self.deadline = time.monotonic() + grace + FORCE_TIMEOUT

    def force_stop(self) -> None:
        logger.warning("forced stop")
        self.exit_code = EXIT_FAILED
        self._signal_role(HTTP, signal.SIGINT)  # gunicorn's quick shutdown
        for child in self.children.values():
            if child.role != HTTP:
                child.signal(signal.SIGKILL)
        self.deadline = time.monotonic() + FORCE_TIMEOUT

    def _close_sockets(self) -> None:
        for sock in (self.http_socket, self.gevent_socket, *(self.handoff or ())):
            if sock is not None and sock.fileno() >= 0:
                sock.close()

    def report(self) -> list[str]:
        """Log the startup report; its last line, ``serving URL``, says that requests are accepted."""
        lines = startup_report(self.site, self.mode, self.url, self.cron_label)
        lines[-1:-1] = [f"HTTP workers: {self.workers} (gunicorn, sync)", describe_limits(self.config),
                        f"long polling: {self.longpolling_url} (gevent process; the HTTP port hands long "
                        "polls and WebSockets to it)", f"websocket: {websocket_url(self.url)}"]
        return log_lines(lines)
