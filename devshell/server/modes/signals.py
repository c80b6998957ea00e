"""Signals of a foreground server: handlers only queue them, the main loop reads the queue and acts.

That is gunicorn's rule: nothing runs inside a signal handler but a ``put``. The
file watcher of ``--dev reload`` queues :data:`RELOAD` the same way, so a change
on disk is handled like SIGHUP.
"""

from __future__ import annotations

import queue
import signal
import threading
from types import FrameType
from typing import Any, Iterable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SERVER_SIGNALS = (*STOP_SIGNALS, signal.SIGHUP)
RELOAD = "reload"  #: queued by the file watcher, handled like SIGHUP

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
