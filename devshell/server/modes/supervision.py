"""Supervision between processes: a child stops when its parent is gone, a supervisor sees a child hang.

A process started by another one (a notebook, the prefork master) gets its
parent's pid in ``DEVSHELL_PARENT_PID`` and its :class:`Watchdog` stops it when
that parent is gone (on Linux the kernel also signals it at once, see
:func:`die_with_parent`). A supervised child beats a :class:`Heartbeat` file its
supervisor watches; the watchdog also recycles a process past ``limit_memory_soft``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import time

from .limits import virtual_memory
from .signals import SignalQueue

logger = logging.getLogger(__name__)

PARENT_PID_ENV = "DEVSHELL_PARENT_PID"  #: stop when the process of this pid is no longer our parent
HEARTBEAT_FD_ENV = "DEVSHELL_HEARTBEAT_FD"  #: a supervised child's heartbeat file (see Heartbeat)
WATCHDOG_INTERVAL = 1.0
PR_SET_PDEATHSIG = 1


def parent_pid_from_environment() -> int | None:
    """The pid named by ``DEVSHELL_PARENT_PID`` (None when unset or not a number)."""
    value = os.environ.get(PARENT_PID_ENV, "")
    return int(value) if value.isdigit() else None


def die_with_parent(number: int = signal.SIGTERM, *, parent: int | None = None) -> None:
    """Ask the kernel to send *number* when our parent (the thread that forked us) ends; Linux only.

    *parent* is the pid that forked us: when it died before the request was made
    (the kernel would then never send the signal), *number* is sent at once. The
    portable guard is :class:`Watchdog`; this one acts at once, even when we are busy.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(number))
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), number)


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
            logger.warning("stopping: %s", reason)
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
