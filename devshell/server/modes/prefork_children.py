"""The children of the prefork master: gunicorn (HTTP), one gevent process (long polling), cron processes.

Each spawn function forks from the master's main thread (the master runs no other
thread) and returns the child's pid; in the child every path ends in ``os._exit``,
so a child never falls back into the master's loop. The gevent process is a fresh
interpreter (fork + exec) because gevent's monkey-patching must come first.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from ...config import child_environment
from .cron_process import run_cron
from .gunicorn_workers import run_gunicorn  # imported once, in the master: every fork shares it
from .listening_socket import LISTEN_FD_ENV
from .prefork_handoff import HANDOFF_FD_ENV
from .reexec import gevent_command
from .signals import STOP_SIGNALS
from .supervision import HEARTBEAT_FD_ENV, PARENT_PID_ENV, Heartbeat, die_with_parent

if TYPE_CHECKING:
    from ...config import Config
    from ...site import Site

logger = logging.getLogger(__name__)

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
        logger.exception("process %d failed", os.getpid())
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def spawn_http(site: "Site", listener: socket.socket, workers: int,
               longpolling_port: int, close: list[Any], handoff: socket.socket | None = None) -> int:
    """gunicorn's arbiter in a child of its own, serving *listener* with *workers* sync workers.

    *handoff* is the end its workers pass long polls, WebSockets and slow clients through.
    """
    master = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child_main(lambda: run_gunicorn(site, listener, workers, longpolling_port, master, handoff), close)
    return pid


def spawn_longpolling(config: "Config", listener: socket.socket, heartbeat: Heartbeat,
                      handoff: socket.socket | None = None) -> int:
    """``devshell server --mode gevent`` on *listener*, exec'd in a child (patched first thing).

    It also serves the connections the HTTP workers hand over through *handoff* (its receiving end).
    """
    port = listener.getsockname()[1]
    environ = {**os.environ, **child_environment(config), LISTEN_FD_ENV: str(listener.fileno()),
               HEARTBEAT_FD_ENV: str(heartbeat.fd), PARENT_PID_ENV: str(os.getpid())}
    if handoff is not None:
        environ[HANDOFF_FD_ENV] = str(handoff.fileno())
    argv = gevent_command("--workers", "0", "--max-cron-threads", "0", "--gevent-port", str(port))
    pid = os.fork()
    if pid == 0:
        try:
            for number in MASTER_SIGNALS:
                signal.signal(number, signal.SIG_DFL)
            die_with_parent(parent=int(environ[PARENT_PID_ENV]))
            os.set_inheritable(listener.fileno(), True)
            os.set_inheritable(heartbeat.fd, True)
            if handoff is not None:
                os.set_inheritable(handoff.fileno(), True)
            os.execve(sys.executable, argv, environ)
        finally:
            os._exit(127)
    return pid


def spawn_cron(site: "Site", heartbeat: Heartbeat, close: list[Any]) -> int:
    """A cron process: one runner claiming due jobs (SKIP LOCKED), with the worker limits per job."""
    master = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child_main(lambda: run_cron(site, heartbeat, master), close)
    return pid
