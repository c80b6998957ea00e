"""What a foreground server does besides serving: signals, re-exec, and ``--dev reload``.

Signal handlers only queue the signal (gunicorn's rule); the server's main loop
reads the queue and acts. A restart re-executes the same command line in the
same process (same pid, pidfile kept) and hands the listening socket over, so
connections that arrive meanwhile wait in the backlog instead of being refused.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterable, NoReturn

_logger = logging.getLogger("devshell.server")

LISTEN_FD_ENV = "DEVSHELL_LISTEN_FD"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
RELOAD = "reload"  #: queued by the file watcher, handled like SIGHUP
WATCHED_SUFFIXES = frozenset({".py", ".sql", ".csv", ".json", ".xml", ".toml", ".j2", ".jinja"})

Event = int | str


class SignalQueue:
    """Queue SIGINT, SIGTERM and SIGHUP (when in the main thread); others may :meth:`put` too."""

    def __init__(self, *, install: bool = True) -> None:
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._previous: dict[int, Any] = {}
        if install and threading.current_thread() is threading.main_thread():
            for number in (*STOP_SIGNALS, signal.SIGHUP):
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
