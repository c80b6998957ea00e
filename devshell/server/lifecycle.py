"""What a foreground server does besides serving: signals, re-exec, watchdog, and ``--dev reload``.

Signal handlers only queue the signal (gunicorn's rule); the server's main loop
reads the queue and acts. A restart re-executes the same command line in the
same process (same pid, pidfile kept) and hands the listening socket over, so
connections that arrive meanwhile wait in the backlog instead of being refused.
A process started by another one (a notebook, the prefork master) gets its
parent's pid in ``DEVSHELL_PARENT_PID`` and stops when that parent is gone.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Iterable, NoReturn

from ..config import environment_value

if TYPE_CHECKING:
    from ..config import Config

_logger = logging.getLogger("devshell.server")

LISTEN_FD_ENV = "DEVSHELL_LISTEN_FD"
PARENT_PID_ENV = "DEVSHELL_PARENT_PID"  #: stop when the process of this pid is no longer our parent
HEARTBEAT_FD_ENV = "DEVSHELL_HEARTBEAT_FD"  #: a supervised child's heartbeat file (see Heartbeat)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SERVER_SIGNALS = (*STOP_SIGNALS, signal.SIGHUP)
WATCHDOG_INTERVAL = 1.0
PR_SET_PDEATHSIG = 1
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
INHERITED_SOURCES = ("user file", "project file", "environment")  #: what a child process reads again itself
RELOAD = "reload"  #: queued by the file watcher, handled like SIGHUP
WATCHED_SUFFIXES = frozenset({".py", ".sql", ".csv", ".json", ".xml", ".toml", ".j2", ".jinja"})

Event = int | str


class SignalQueue:
    """Queue *signals* (SIGINT, SIGTERM and SIGHUP by default; only from the main thread); others may :meth:`put`."""

    def __init__(self, *, install: bool = True, signals: Iterable[int] = SERVER_SIGNALS) -> None:
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._previous: dict[int, Any] = {}
        if install and threading.current_thread() is threading.main_thread():
            for number in signals:
                self._previous[number] = signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self._queue.put(number)

    def put(self, event: Event) -> None:
        self._queue.put(event)

    def get(self, timeout: float | None = None) -> Event | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Put the previous handlers back."""
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()


def signal_name(event: Event) -> str:
    return event if isinstance(event, str) else signal.Signals(event).name


def parent_pid_from_environment() -> int | None:
    """The pid named by ``DEVSHELL_PARENT_PID`` (None when unset or not a number)."""
    value = os.environ.get(PARENT_PID_ENV, "")
    return int(value) if value.isdigit() else None


def die_with_parent(number: int = signal.SIGTERM) -> None:
    """Ask the kernel to send *number* when our parent (the thread that forked us) ends; Linux only.

    The portable guard is :class:`Watchdog`; this one acts at once, even when we are busy.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(number))
    except (OSError, AttributeError):
        pass


_statm: tuple[int, int] | None = None  #: (pid, descriptor of its /proc/<pid>/statm), opened once per process


def virtual_memory() -> int | None:
    """This process's virtual memory size in bytes (what RLIMIT_AS limits), or None where unknown.

    Read after every request by prefork's workers, so one ``pread`` on a descriptor kept open.
    """
    global _statm
    pid = os.getpid()
    try:
        if _statm is None or _statm[0] != pid:  # first call, or a forked child
            _statm = (pid, os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC))
        return int(os.pread(_statm[1], 64, 0).split()[0]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


class Heartbeat:
    """A file whose modification time says when a supervised child last showed signs of life.

    The supervisor creates it (unlinked at once) before starting the child, which
    inherits the descriptor and touches it; gunicorn's ``WorkerTmp`` is the model.
    Times are ``time.monotonic()`` values, which every process of the machine shares.
    """

    def __init__(self, fd: int | None = None) -> None:
        if fd is None:
            fd, name = tempfile.mkstemp(prefix="devshell-heartbeat-")
            os.unlink(name)
        self.fd = fd
        self.beat()  # a fresh child is not stale

    @classmethod
    def from_environment(cls) -> "Heartbeat | None":
        value = os.environ.get(HEARTBEAT_FD_ENV, "")
        return cls(int(value)) if value.isdigit() else None

    def beat(self) -> None:
        now = time.monotonic()
        os.utime(self.fd, (now, now))

    def age(self) -> float:
        """Seconds since the last beat."""
        return time.monotonic() - os.fstat(self.fd).st_mtime

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


class Watchdog:
    """Asks its server to stop (a queued SIGTERM) when the parent is gone or memory passed a limit.

    :meth:`check` is the verb (the prefork master calls it in its loop); :meth:`start`
    runs it every second in a daemon thread (a greenlet in gevent mode), beating
    *heartbeat* on the way.
    """

    def __init__(self, signals: SignalQueue, *, parent_pid: int | None = None, memory_limit: int = 0,
                 heartbeat: Heartbeat | None = None) -> None:
        self.signals = signals
        self.parent_pid = parent_pid
        self.memory_limit = memory_limit
        self.heartbeat = heartbeat
        self.tripped = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> str | None:
        """Why this process should stop now (queued once as SIGTERM), or None."""
        if self.heartbeat is not None:
            self.heartbeat.beat()
        if self.tripped:
            return None
        reason = None
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            reason = f"parent process {self.parent_pid} is gone"
        elif self.memory_limit > 0:
            memory = virtual_memory()
            if memory is not None and memory > self.memory_limit:
                reason = f"virtual memory {memory // 2**20} MiB is over limit_memory_soft " \
                         f"({self.memory_limit // 2**20} MiB)"
        if reason is not None:
            self.tripped = True
            _logger.warning("stopping: %s", reason)
            self.signals.put(signal.SIGTERM)
        return reason

    def start(self) -> "Watchdog":
        if self.parent_pid is None and not self.memory_limit and self.heartbeat is None:
            return self  # nothing to watch: no thread
        self._thread = threading.Thread(target=self._run, name="devshell-watchdog", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(WATCHDOG_INTERVAL):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None


def inherited_socket(family: int, address: tuple[Any, ...]) -> socket.socket | None:
    """The listening socket handed over by the process we were re-executed from, if it fits *address*."""
    value = os.environ.pop(LISTEN_FD_ENV, None)
    if not value:
        return None
    try:
        sock = socket.socket(fileno=int(value))
    except (ValueError, OSError):
        return None
    host, port = sock.getsockname()[:2]
    if sock.family != family or host != address[0] or (address[1] and port != address[1]):
        sock.close()  # the configuration changed: bind afresh
        return None
    sock.set_inheritable(False)
    return sock


def settings_environment(config: "Config") -> dict[str, str]:
    """``DEVSHELL_*`` variables carrying the settings chosen on the command line or in code.

    A child (or an exec'd) devshell process reads the files and the environment
    itself, from the same folder; only these would otherwise be lost.
    """
    variables: dict[str, str] = {}
    for key, value in config.values.items():
        source = config.sources.get(key, "default")
        if value is None or source == "default" or source.startswith(INHERITED_SOURCES):
            continue
        variables["DEVSHELL_" + key.upper()] = environment_value(value)
    return variables


def reexec(listen_fd: int | None) -> NoReturn:
    """Replace this process by a fresh run of the same command line, keeping *listen_fd* open."""
    if listen_fd is not None:
        os.set_inheritable(listen_fd, True)
        os.environ[LISTEN_FD_ENV] = str(listen_fd)
    argv = [sys.executable, *getattr(sys, "orig_argv", [sys.executable, *sys.argv])[1:]]
    _logger.info("restarting: %s", " ".join(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def _is_code(path: str) -> bool:
    file = Path(path)
    return file.suffix in WATCHED_SUFFIXES and "static" not in file.parts


class CodeWatcher:
    """Watches module folders (watchfiles) and calls *on_change* once when code or data files change."""

    def __init__(self, paths: Iterable[Path], on_change: Callable[[list[str]], None]) -> None:
        self.paths = [path for path in paths if path.is_dir()]
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import watchfiles  # only with --dev reload

        def run() -> None:
            for changes in watchfiles.watch(*self.paths, stop_event=self._stop, debounce=400, step=50,
                                            rust_timeout=500, raise_interrupt=False):
                changed = sorted(path for _change, path in changes if _is_code(path))
                if changed:
                    self.on_change(changed)
                    return

        if self.paths:
            self._thread = threading.Thread(target=run, name="devshell-reloader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
