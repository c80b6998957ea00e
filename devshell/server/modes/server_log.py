"""How a server process logs: one stderr handler in LOG_FORMAT, and the access log's fast path.

Access lines go to the ``devshell.http`` logger (a channel of its own, so it can be
silenced or captured apart from the server's messages).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "devshell.http"

access_logger = logging.getLogger(ACCESS_LOGGER)


def configure_logging(level: str = "info") -> None:
    """Log to stderr (the access log included) at *level*, for a server run from the command line."""
    root = logging.getLogger()
    if not any(getattr(handler, "_devshell", False) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._devshell = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())


class AccessLog:
    """One line per request on ``devshell.http``, in LOG_FORMAT, written straight to devshell's log stream.

    Through the logging module a line costs more than serving a small route, so
    the gevent and prefork servers format it here (the time once per second) and
    write it in one call. The ``devshell.http`` level is honoured; when logging
    was set up by someone else (no devshell handler), lines go through it.
    """

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""
        self._handlers: list[logging.Handler] = []
        self._stream: Any = None

    def enabled(self) -> bool:
        return access_logger.isEnabledFor(logging.INFO)

    def log(self, message: str) -> None:
        handlers = logging.getLogger().handlers
        if handlers != self._handlers:  # (re)configured: find devshell's handler again
            self._handlers = list(handlers)
            self._stream = next((getattr(handler, "stream", None) for handler in handlers
                                 if getattr(handler, "_devshell", False)), None)
        stream = self._stream
        if stream is None:
            access_logger.info("%s", message)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        asctime = f"{self._stamp},{int((now - second) * 1000):03d}"
        stream.write(LOG_FORMAT % {"asctime": asctime, "process": os.getpid(), "levelname": "INFO",
                                   "name": ACCESS_LOGGER, "message": message} + "\n")
        stream.flush()
