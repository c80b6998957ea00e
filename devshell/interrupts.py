"""SIGTERM handled like Ctrl-C while a command changes something, so that the same cleanup runs.

By default SIGTERM ends a Python process at once: no ``finally``, no ``except``,
so a ``kill`` of ``db restore`` left its staging database and a ``kill`` of
``db dump`` its ``FILE.part``. Inside :func:`sigterm_as_interrupt` SIGTERM raises
:class:`Terminated` instead, which unwinds like a KeyboardInterrupt (no
``except Exception`` stops it; the CLI exits with 143); a second SIGTERM during
that cleanup is ignored. SIGKILL cannot
be caught: what it leaves is removed by the next run (see
:mod:`devshell.db.staging`, :func:`devshell.db.admin.dump_to_file`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType
from typing import Iterator

EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so ``finally`` blocks and ``except BaseException`` cleanups run.

    Not a KeyboardInterrupt: click would turn that into a generic "aborted".
    """


def _raise_terminated(number: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup that follows is not cut short by another one
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """In the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
