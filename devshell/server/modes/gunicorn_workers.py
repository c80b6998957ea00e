"""gunicorn embedded through its application API: prefork's HTTP workers, with Odoo's limits.

The prefork master forks one process that runs :class:`DevshellArbiter` in its
main thread; gunicorn forks the sync workers (one request at a time, Odoo's HTTP
worker model), each loading its own :class:`~devshell.server.web.application.Root`. The
listening socket is the master's, handed over, so the port stays open while
gunicorn itself restarts. :class:`WorkerHooks` installs the per-request limits:
gunicorn's ``timeout`` is only a heartbeat, so ``limit_time_real`` is enforced
in each worker (see :mod:`.limits`).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any, Callable, Iterable

from gunicorn import glogging, sock as gunicorn_sock
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from .limits import ProcessLimits
from .prefork_triage import WholeRequestWorker
from .server import GRACEFUL_TIMEOUT
from .server_log import AccessLog
from .supervision import die_with_parent

if TYPE_CHECKING:
    from ...config import Config
    from ...site import Site

logger = logging.getLogger(__name__)

HEARTBEAT_GRACE = 30  #: gunicorn's own timeout, past limit_time_real: the backstop for a wedged worker
WORKER_DUMP_SIGNAL = signal.SIGUSR2  #: a worker dumps its stack on it (gunicorn uses SIGQUIT for quick exit)
TIME_LIMIT_BODY = b"the request ran for more than limit_time_real: its worker was stopped\n"


class GunicornLogger(glogging.Logger):
    """gunicorn's messages through devshell's log handler; one access line per request on ``devshell.http``."""

    def setup(self, cfg: Any) -> None:
        self.cfg = cfg
        self._access_log_enabled = True
        self.devshell_access = AccessLog()
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True
        self.error_log.setLevel(self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO))

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if self.devshell_access.enabled():
            status = str(resp.status).split(None, 1)[0] if resp is not None else "-"
            self.devshell_access.log(f'{environ.get("REMOTE_ADDR", "-")} "{environ.get("REQUEST_METHOD")} '
                                     f'{environ.get("RAW_URI")} {environ.get("SERVER_PROTOCOL")}" {status} '
                                     f'{request_time.total_seconds() * 1000:.1f}ms')


class WorkerHooks:
    """gunicorn's server hooks of an HTTP worker: its :class:`ProcessLimits`, installed after the fork."""

    def __init__(self, config: "Config") -> None:
        self.limits = ProcessLimits(config, what="request", fail_request_on_cpu_limit=True,
                                    dump_signal=WORKER_DUMP_SIGNAL)
        self._response_started = False

    def post_fork(self, server: Any, worker: Any) -> None:
        """Right after the fork, before the app loads: a worker dies with its arbiter, even one still booting."""
        die_with_parent(parent=worker.ppid)

    def post_worker_init(self, worker: Any) -> None:
        self.limits.install()

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """*app* with the request's limits armed when it is called (they end in ``post_request``)."""

        def limited(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            client = environ.get("gunicorn.socket")
            self._response_started = False
            self.limits.begin(f"{environ.get('REQUEST_METHOD')} {environ.get('RAW_URI')}",
                              on_kill=lambda: self._answer_time_limit(client))

            def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                self._response_started = True
                return start_response(status, headers, exc_info)

            return app(environ, start)

        return limited

    def _answer_time_limit(self, client: socket.socket | None) -> None:
        """A 503 for the client of the request being killed, unless its response already started."""
        if client is None or self._response_started:
            return
        head = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(TIME_LIMIT_BODY))
        client.send(head + TIME_LIMIT_BODY, socket.MSG_DONTWAIT)

    def post_request(self, worker: Any, req: Any, environ: Any = None, resp: Any = None) -> None:
        self.limits.end()
        memory = self.limits.over_soft_memory()
        if memory is not None and worker.alive:
            logger.info("worker %d: virtual memory %d MiB is over limit_memory_soft (%d MiB): recycled after "
                        "this request", os.getpid(), memory // 2**20, self.limits.memory_soft // 2**20)
            worker.alive = False

    def worker_abort(self, worker: Any) -> None:
        """gunicorn's heartbeat timeout (SIGABRT): say where the worker was stuck."""
        logger.critical("worker %d missed gunicorn's heartbeat; its stacks:", os.getpid())
        faulthandler.dump_traceback(all_threads=True)


class DevshellApplication(BaseApplication):
    """The gunicorn application: settings from devshell's configuration, ``Root`` loaded in each worker."""

    def __init__(self, site: "Site", listener: socket.socket, workers: int,
                 longpolling_port: int, handoff: socket.socket | None = None) -> None:
        self.site = site
        config = site.config
        self.longpolling_port = longpolling_port
        self.handoff = handoff  #: the sending end to the gevent process (read by WholeRequestWorker)
        self.hooks = WorkerHooks(config)
        host, port = listener.getsockname()[:2]
        self.settings = gunicorn_settings(config, f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                                          workers, self.hooks)
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.settings.items():
            self.cfg.set(name, value)

    def load(self) -> Callable[..., Iterable[bytes]]:
        from ..web.application import Root

        root = Root(self.site)
        root.longpolling_port = self.longpolling_port
        return self.hooks.wrap(root)


def gunicorn_settings(config: "Config", bind: str, workers: int, hooks: WorkerHooks) -> dict[str, Any]:
    real = config["limit_time_real"]
    return {
        "bind": [bind],  # informative: the arbiter gets the master's socket (DevshellArbiter)
        "workers": workers,
        "worker_class": WholeRequestWorker,  # sync, one request at a time: Odoo's HTTP worker, whole requests only
        "timeout": real + HEARTBEAT_GRACE if real > 0 else 0,
        "graceful_timeout": real if real > 0 else GRACEFUL_TIMEOUT,
        "max_requests": config["limit_request"],
        "max_requests_jitter": 0,
        "proc_name": "devshell",
        "control_socket_disable": True,  # no control thread in the arbiter, no socket file
        "logger_class": GunicornLogger,
        "loglevel": config["log_level"],
        "preload_app": False,  # each worker imports the modules: SIGHUP brings new code
        "post_fork": hooks.post_fork,
        "post_worker_init": hooks.post_worker_init,
        "post_request": hooks.post_request,
        "worker_abort": hooks.worker_abort,
    }


class DevshellArbiter(Arbiter):
    """gunicorn's arbiter on a socket handed over by the devshell master, stopping when the master is gone.

    SIGQUIT dumps the stacks (the arbiter's and every worker's) instead of a quick
    stop: the master forwards its own SIGQUIT here, and stops fast with SIGINT.
    """

    def __init__(self, app: DevshellApplication, listener: socket.socket, master_pid: int) -> None:
        super().__init__(app)
        self.devshell_master = master_pid
        kind = gunicorn_sock.TCP6Socket if listener.family == socket.AF_INET6 else gunicorn_sock.TCPSocket
        self.LISTENERS = [kind(listener.getsockname(), self.cfg, self.log, fd=os.dup(listener.fileno()))]

    def maybe_promote_master(self) -> None:
        """Called on every turn of gunicorn's loop: stop gracefully once the devshell master is gone."""
        if os.getppid() != self.devshell_master:
            self.log.warning("the devshell master %d is gone: stopping", self.devshell_master)
            raise StopIteration

    def spawn_worker(self) -> int:
        """A new worker, unless the devshell master is gone: then no more forks, gunicorn halts (issue 14)."""
        if os.getppid() != self.devshell_master:
            self.log.warning("the devshell master %d is gone: no new worker; stopping", self.devshell_master)
            raise StopIteration  # run() halts on it, from its first spawn loop as from its main loop
        pid: int = super().spawn_worker()
        return pid

    def handle_quit(self) -> None:
        self.log.info("stacks of the gunicorn arbiter %d and its workers:", os.getpid())
        faulthandler.dump_traceback(all_threads=True)
        self.kill_workers(WORKER_DUMP_SIGNAL)


def run_gunicorn(site: "Site", listener: socket.socket, workers: int,
                 longpolling_port: int, master_pid: int, handoff: socket.socket | None = None) -> int:
    """The body of prefork's HTTP process (forked by the master): gunicorn until it stops."""
    die_with_parent(parent=master_pid)
    application = DevshellApplication(site, listener, workers, longpolling_port, handoff)
    arbiter = DevshellArbiter(application, listener, master_pid)
    listener.close()  # the arbiter holds its own duplicate
    try:
        arbiter.run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
