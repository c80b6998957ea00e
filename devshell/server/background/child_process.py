"""A gevent or prefork server run as a child process, its output read by a thread of ours.

A gevent server starts as ``python -m devshell.server.modes.gevent_entry server
…`` (patched from the first line: one interpreter image), a prefork master as
``python -m devshell server …``. Readiness is a handshake: the child logs
``serving http://HOST:PORT/`` once it accepts connections (with port 0 that line
is the only way to learn the port); the parent reads the child's merged output,
keeps the last lines for ``.logs()`` and waits for that line, so a failed start
is an exception with the child's own error line. The child dies with its parent
twice over: it gets ``DEVSHELL_PARENT_PID`` for its own watchdog and, on Linux,
the kernel sends it SIGTERM when the parent goes (``PR_SET_PDEATHSIG``). It runs
in a session of its own, so Ctrl-C typed in the parent's terminal does not reach it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ...config import child_environment
from ...errors import DevshellError
from ..modes.reexec import gevent_command
from ..modes.supervision import PARENT_PID_ENV, PR_SET_PDEATHSIG

if TYPE_CHECKING:
    from ...config import Config

READY_LINE = re.compile(r"serving (http://(?:\[[^\]]+\]|[^\s/:\[]+):(\d+)/)")
#: what explains a failed start, best first
_ERROR_LINES = (re.compile(r"^devshell: error: "), re.compile(r"^[\w.]+(Error|Exception|Exit): "),
                re.compile(r" (CRITICAL|ERROR) "))


class LineSink(Protocol):
    def append(self, line: str) -> None: ...

    def tail(self, count: int) -> list[str]: ...


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` arming PR_SET_PDEATHSIG (Linux), or None.

    The kernel sends the signal when the *thread* that forked the child ends, so
    it is armed only from the main thread; elsewhere the child's own watchdog
    (``DEVSHELL_PARENT_PID``) is the only guard.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork: nothing to load after it
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


class ChildServer:
    """One ``devshell server`` child process and the thread that reads its output."""

    def __init__(self, config: "Config", sink: LineSink) -> None:
        self.mode: str = config["mode"]
        self.config = config
        self.sink = sink
        self.port = 0
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Condition()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def state(self) -> str:
        if self._proc is None:
            return "stopped"
        code = self._proc.poll()
        if code is None:
            return "running" if self.port else "starting"
        return "stopped" if code in (0, -signal.SIGTERM) else f"exited with code {code}"

    def command(self) -> list[str]:
        """The child's command line; every other setting chosen in code goes through its environment."""
        arguments = ["--http-port", str(self.config["http_port"])]
        if self.config["db_name"]:
            arguments += ["-d", str(self.config["db_name"])]
        if self.mode == "gevent":
            return gevent_command(*arguments)
        return [sys.executable, "-m", "devshell", "server", "--mode", self.mode, *arguments]

    def environment(self) -> dict[str, str]:
        variables = {**os.environ, **child_environment(self.config)}
        variables[PARENT_PID_ENV] = str(os.getpid())
        variables["PYTHONUNBUFFERED"] = "1"
        return variables

    def start(self, timeout: float) -> None:
        """Spawn the child and wait for its ready line; a child that fails or hangs is an exception."""
        self.port, self.url = 0, ""
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", bufsize=1, env=self.environment(), cwd=str(self.config.cwd),
            start_new_session=True, preexec_fn=_die_with_parent())
        self._reader = threading.Thread(target=self._read, args=(self._proc,), name=f"devshell-{self.mode}-output",
                                        daemon=True)
        self._reader.start()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop(5.0)
            raise

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                self.sink.append(line)
                if not self.port:
                    found = READY_LINE.search(line)
                    if found:
                        with self._ready:
                            self.url, self.port = found.group(1), int(found.group(2))
                            self._ready.notify_all()
        finally:
            proc.stdout.close()  # here, not in stop(): closing under a blocked reader would wait for it
            with self._ready:
                self._ready.notify_all()

    def wait_ready(self, timeout: float) -> None:
        """Return once the child reported its URL; raise when it exited or *timeout* passed first."""
        deadline = time.monotonic() + timeout
        proc, reader = self._proc, self._reader
        if proc is None or reader is None:
            raise DevshellError(f"the {self.mode} server is not running: call .restart()")
        with self._ready:
            while not self.port and proc.poll() is None and reader.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DevshellError(f"the {self.mode} server was not ready after {timeout:g} s; "
                                        f"its last line: {self._last_error()}")
                self._ready.wait(min(remaining, 0.1))
            if self.port:
                return
        reader.join(1.0)  # the child is gone: let the reader take in its last words
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2.0)  # output closed: the exit status follows
        code = proc.poll()
        how = f"exited (code {code})" if code is not None else "closed its output"
        raise DevshellError(f"the {self.mode} server {how} before it was ready: {self._last_error()}")

    def _last_error(self) -> str:
        """The child's most telling line: devshell's own error, else an exception, else an ERROR record."""
        lines = [line.strip() for line in self.sink.tail(100) if line.strip()]
        for pattern in _ERROR_LINES:
            found = [line for line in lines if pattern.search(line)]
            if found:
                return found[-1]
        return lines[-1] if lines else "(no output)"

    def stop(self, timeout: float | None) -> bool:
        """SIGTERM, then SIGKILL to the whole process group after *timeout*; True when it stopped in time."""
        proc = self._proc
        if proc is None:
            return True
        graceful = True
        if proc.poll() is None:
            _signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                graceful = False
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: workers go too
                proc.wait()
        if self._reader is not None:
            self._reader.join(5.0)  # ends at EOF, unless an orphaned grandchild still holds the pipe
        return graceful


def _signal(proc: subprocess.Popen[Any], number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(number)
