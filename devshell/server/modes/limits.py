"""Per-process limits with Odoo's meaning, for prefork's HTTP workers and cron processes.

- ``limit_memory_hard``: RLIMIT_AS; an allocation past it fails (MemoryError).
- ``limit_memory_soft``: past it, the process finishes its current request or
  job, then exits; its supervisor starts a fresh one.
- ``limit_time_cpu``: RLIMIT_CPU re-armed when each request or job starts; the
  kernel's SIGXCPU then fails the request (HTTP workers) or ends the process.
- ``limit_time_real``: a watchdog thread measures each request or job on the wall
  clock; past the limit it logs the stack of the thread running it, then kills
  the process (nothing else can stop a thread that is blocked in C).

Every limit set to 0 is off. :class:`ProcessLimits` is the one object that puts
them in place in a worker process; gunicorn's HTTP workers and prefork's cron
processes both install it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import math
import os
import signal
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn

if TYPE_CHECKING:
    from ...config import Config

logger = logging.getLogger(__name__)

EXIT_TIME_LIMIT = 75  #: the exit code of a process killed for a request past limit_time_real
EXIT_CPU_LIMIT = 76  #: the exit code of a cron process past limit_time_cpu
WORKER_HEADROOM = 400 * 2**20  #: virtual memory a worker or cron process adds to its parent's (app, threads, arenas)
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

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


def check_memory_hard_limit(config: "Config") -> None:
    """A usage error when ``limit_memory_hard`` leaves a worker no room to start.

    Workers begin as copies of this process and then load the application, so a
    limit below this process's size plus :data:`WORKER_HEADROOM` would only fill
    the log with MemoryErrors while the supervisor respawns them.
    """
    from ...errors import UsageError

    limit = config["limit_memory_hard"]
    memory = virtual_memory()
    if limit <= 0 or memory is None or limit >= memory + WORKER_HEADROOM:
        return
    needed = (memory + WORKER_HEADROOM + 2**20 - 1) // 2**20
    raise UsageError(f"limit_memory_hard ({limit} bytes) is below what a worker needs: this process already "
                     f"uses {memory // 2**20} MiB of virtual memory; give at least {needed} MiB "
                     f"(--limit-memory-hard {needed * 2**20}), or 0 for no limit")


class CpuTimeLimitExceeded(RuntimeError):
    """Raised in the request's thread by SIGXCPU: the request used more than ``limit_time_cpu``."""


def thread_stack(ident: int | None) -> str:
    """The current Python stack of thread *ident* (empty when it is gone)."""
    frame = sys._current_frames().get(ident) if ident is not None else None
    return "".join(traceback.format_stack(frame)) if frame is not None else "(no stack: the thread is gone)\n"


def set_memory_hard_limit(limit: int) -> None:
    """RLIMIT_AS = *limit* bytes for this process (0: unchanged)."""
    import resource

    if limit <= 0:
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def arm_cpu_limit(seconds: int) -> None:
    """Let this process use *seconds* more CPU seconds before the kernel sends SIGXCPU (0: unchanged)."""
    import resource

    if seconds <= 0:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)  # whole seconds: at least *seconds* more
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def over_soft_memory(limit: int) -> int | None:
    """The virtual memory size when it is over *limit* bytes, else None (also when *limit* is 0)."""
    if limit <= 0:
        return None
    memory = virtual_memory()
    return memory if memory is not None and memory > limit else None


def die(code: int) -> NoReturn:
    """Leave now, from any thread, with the log flushed."""
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # a broken handler must not keep a process alive past its limit
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Activity:
    """What one thread is doing now: a request or a cron job, since when, and how to answer it early."""

    def __init__(self, description: str, on_kill: Callable[[], None] | None = None) -> None:
        self.description = description
        self.on_kill = on_kill
        self.started = time.monotonic()
        self.thread = threading.get_ident()


class RealTimeLimit:
    """Kills this process when one activity runs longer than *seconds* on the wall clock.

    ``begin()`` / ``end()`` bracket an activity (a request, a cron job) in the
    thread that runs it. Before the kill the stack of that thread is logged and
    the activity's ``on_kill`` runs (an HTTP worker answers 503 there).
    """

    def __init__(self, seconds: int, *, what: str = "request") -> None:
        self.seconds = seconds
        self.what = what
        self._current: Activity | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def begin(self, description: str, on_kill: Callable[[], None] | None = None) -> None:
        with self._lock:
            self._current = Activity(description, on_kill)

    def end(self) -> None:
        with self._lock:
            self._current = None

    @property
    def busy(self) -> bool:
        return self._current is not None

    def start(self) -> "RealTimeLimit":
        if self.seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="devshell-time-limit", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        tick = min(1.0, self.seconds / 4)
        while True:
            time.sleep(tick)
            with self._lock:
                activity = self._current
            if activity is not None and time.monotonic() - activity.started > self.seconds:
                self._kill(activity)

    def _kill(self, activity: Activity) -> NoReturn:
        logger.critical("%s %s ran for more than limit_time_real (%d s): killing process %d; its stack:\n%s",
                         self.what, activity.description, self.seconds, os.getpid(),
                         thread_stack(activity.thread).rstrip())
        if activity.on_kill is not None:
            try:
                activity.on_kill()
            except Exception:  # the client may be gone already
                pass
        die(EXIT_TIME_LIMIT)


def install_cpu_limit_handler(seconds: int, *, raise_in_main_thread: bool) -> None:
    """Handle SIGXCPU: raise CpuTimeLimitExceeded in the main thread, or log the stacks and exit."""

    def on_sigxcpu(number: int, frame: Any) -> None:
        arm_cpu_limit(seconds)  # room to fail cleanly, instead of SIGXCPU again every second
        if raise_in_main_thread:
            logger.error("request used more than limit_time_cpu (%d s of CPU): failing it", seconds)
            raise CpuTimeLimitExceeded(f"CPU time limit exceeded (limit_time_cpu = {seconds} s)")
        stacks = "\n".join(f"thread {ident}:\n{thread_stack(ident)}" for ident in sys._current_frames())
        logger.critical("used more than limit_time_cpu (%d s of CPU): killing process %d; stacks:\n%s",
                         seconds, os.getpid(), stacks.rstrip())
        die(EXIT_CPU_LIMIT)

    if seconds > 0:
        signal.signal(signal.SIGXCPU, on_sigxcpu)


class ProcessLimits:
    """Every limit of one worker process that serves one request or cron job at a time.

    Built before the fork and installed in the child (:meth:`install`); :meth:`activity` (or
    :meth:`begin` / :meth:`end`) brackets each request or job, re-arming the CPU
    limit and watching the wall clock; after it, :meth:`over_soft_memory` says
    whether the process should be recycled. Past ``limit_time_cpu`` an HTTP worker
    fails the request (*fail_request_on_cpu_limit*), a cron process exits.
    """

    def __init__(self, config: "Config", *, what: str, fail_request_on_cpu_limit: bool,
                 dump_signal: int = signal.SIGQUIT) -> None:
        self.memory_soft: int = config["limit_memory_soft"]
        self.memory_hard: int = config["limit_memory_hard"]
        self.time_cpu: int = config["limit_time_cpu"]
        self.time_real = RealTimeLimit(config["limit_time_real"], what=what)
        self.fail_request_on_cpu_limit = fail_request_on_cpu_limit
        self.dump_signal = dump_signal  #: the process dumps every thread's stack on this signal

    def install(self) -> None:
        """Put the limits in place in this (freshly forked) process."""
        set_memory_hard_limit(self.memory_hard)
        install_cpu_limit_handler(self.time_cpu, raise_in_main_thread=self.fail_request_on_cpu_limit)
        faulthandler.register(self.dump_signal, all_threads=True)
        self.time_real.start()

    def begin(self, description: str, on_kill: Callable[[], None] | None = None) -> None:
        arm_cpu_limit(self.time_cpu)
        self.time_real.begin(description, on_kill)

    def end(self) -> None:
        self.time_real.end()

    @contextlib.contextmanager
    def activity(self, description: str) -> Iterator[None]:
        self.begin(description)
        try:
            yield
        finally:
            self.end()

    @property
    def busy(self) -> bool:
        return self.time_real.busy

    def over_soft_memory(self) -> int | None:
        """The virtual memory size when it is over ``limit_memory_soft``, else None."""
        return over_soft_memory(self.memory_soft)


def describe_limits(config: "Config") -> str:
    """One line for the startup report."""
    def mib(value: int) -> str:
        return f"{value // 2**20} MiB" if value > 0 else "off"

    def seconds(value: int) -> str:
        return f"{value} s" if value > 0 else "off"

    return (f"limits per worker: {config['limit_request'] or 'no'} requests, memory soft "
            f"{mib(config['limit_memory_soft'])} / hard {mib(config['limit_memory_hard'])}, "
            f"time cpu {seconds(config['limit_time_cpu'])} / real {seconds(config['limit_time_real'])}")
