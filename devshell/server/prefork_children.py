"""The children of the prefork master: gunicorn (HTTP), one gevent process (long polling), cron processes.

Each spawn function forks from the master's main thread (the master runs no other
thread) and returns the child's pid; in the child every path ends in ``os._exit``,
so a child never falls back into the master's loop. The gevent process is a fresh
interpreter (fork + exec) because gevent's monkey-patching must come first.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn

from .base import GEVENT_ENTRY_MODULE
from .gunicorn_app import run_gunicorn  # imported once, in the master: every fork shares it
from .lifecycle import (HEARTBEAT_FD_ENV, LISTEN_FD_ENV, PARENT_PID_ENV, STOP_SIGNALS, WATCHDOG_INTERVAL, Heartbeat,
                        SignalQueue, Watchdog, die_with_parent, settings_environment)

if TYPE_CHECKING:
    from ..config import Config
    from ..db.connection import ServerAddress

_logger = logging.getLogger("devshell.server.prefork")

HTTP, LONGPOLLING, CRON = "http", "longpolling", "cron"
#: signals the master handles; its children start with the default action for all of them
MASTER_SIGNALS = (*STOP_SIGNALS, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGQUIT, signal.SIGCHLD)


@dataclass
class Child:
    """One process the master supervises."""

    role: str
    pid: int
    heartbeat: Heartbeat | None = None
    timeout: float = 0.0  #: seconds without a heartbeat before the master kills it (0: never)
    started: float = field(default_factory=time.monotonic)
    retiring: bool = False  #: asked to stop (reload or shutdown): its exit is expected
    dumped_at: float | None = None  #: when its stack dump was asked for, before the kill

    def signal(self, number: int) -> None:
        try:
            os.kill(self.pid, number)
        except ProcessLookupError:
            pass  # already gone: reaped on the next turn

    def stale(self) -> bool:
        return bool(self.timeout and self.heartbeat is not None and self.heartbeat.age() > self.timeout)

    def describe(self) -> str:
        return f"{self.role} process {self.pid}"


def _child_main(body: Callable[[], int], close: list[Any]) -> NoReturn:
    """Run *body* in a freshly forked child and leave with its exit code, whatever happens."""
    code = 1
    try:
        for number in MASTER_SIGNALS:
            signal.signal(number, signal.SIG_DFL)
        for item in close:  # the master's sockets and its other children's heartbeats
            item.close()
        code = body()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        _logger.exception("process %d failed", os.getpid())
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def spawn_http(config: "Config", address: "ServerAddress", listener: socket.socket, workers: int,
               longpolling_port: int, close: list[Any]) -> int:
    """gunicorn's arbiter in a child of its own, serving *listener* with *workers* sync workers."""
    master = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child_main(lambda: run_gunicorn(config, address, listener, workers, longpolling_port, master), close)
    return pid


def spawn_longpolling(config: "Config", listener: socket.socket, heartbeat: Heartbeat) -> int:
    """``devshell server --mode gevent`` on *listener*, exec'd in a child (patched first thing)."""
    port = listener.getsockname()[1]
    environ = {**os.environ, **settings_environment(config), LISTEN_FD_ENV: str(listener.fileno()),
               HEARTBEAT_FD_ENV: str(heartbeat.fd), PARENT_PID_ENV: str(os.getpid())}
    argv = [sys.executable, "-m", GEVENT_ENTRY_MODULE, "server", "--mode", "gevent", "--workers", "0",
            "--max-cron-threads", "0", "--gevent-port", str(port)]
    pid = os.fork()
    if pid == 0:
        try:
            for number in MASTER_SIGNALS:
                signal.signal(number, signal.SIG_DFL)
            die_with_parent()
            os.set_inheritable(listener.fileno(), True)
            os.set_inheritable(heartbeat.fd, True)
            os.execve(sys.executable, argv, environ)
        finally:
            os._exit(127)
    return pid


def spawn_cron(config: "Config", address: "ServerAddress", heartbeat: Heartbeat, close: list[Any]) -> int:
    """A cron process: one runner claiming due jobs (SKIP LOCKED), with the worker limits per job."""
    master = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child_main(lambda: run_cron(config, address, heartbeat, master), close)
    return pid


def run_cron(config: "Config", address: "ServerAddress", heartbeat: Heartbeat, master: int) -> int:
    """The body of a cron process: run jobs until SIGTERM, the master's death, or the soft memory limit."""
    import contextlib

    from .app import Root
    from .cron import CronService
    from .limits import (RealTimeLimit, arm_cpu_limit, install_cpu_limit_handler, over_soft_memory,
                         set_memory_hard_limit)

    die_with_parent()
    set_memory_hard_limit(config["limit_memory_hard"])
    install_cpu_limit_handler(config["limit_time_cpu"], raise_in_main_thread=False)
    faulthandler.register(signal.SIGQUIT, all_threads=True)
    signals = SignalQueue(signals=STOP_SIGNALS)
    time_limit = RealTimeLimit(config["limit_time_real"], what="cron job").start()

    @contextlib.contextmanager
    def job_limits(description: str) -> Iterator[None]:
        arm_cpu_limit(config["limit_time_cpu"])
        time_limit.begin(description)
        try:
            yield
        finally:
            time_limit.end()

    app = Root(config, mode="prefork", address=address)
    cron = CronService(app.databases, app.listener, app.jobs_for, app.cron_databases, 1, guard=job_limits)
    watchdog = Watchdog(signals, parent_pid=master, heartbeat=heartbeat)
    cron.start()
    _logger.info("cron process %d ready", os.getpid())
    try:
        while True:
            event = signals.get(timeout=WATCHDOG_INTERVAL)
            watchdog.check()
            if event in STOP_SIGNALS:
                break
            memory = over_soft_memory(config["limit_memory_soft"]) if not time_limit.busy else None
            if memory is not None:
                _logger.info("cron process %d: virtual memory %d MiB is over limit_memory_soft: recycled",
                             os.getpid(), memory // 2**20)
                break
    finally:
        finished = cron.stop(config["limit_time_real"] or None)
        app.close()
    return 0 if finished else 1
