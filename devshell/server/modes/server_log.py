"""How a server process logs: one stderr handler in LOG_FORMAT, and the access log's fast path.

Access lines go to the ``devshell.http`` logger (a channel of its own, so it can be
silenced or captured apart from the server's messages). On a terminal the time is
dimmed and the level colored; piped or redirected (or with ``NO_COLOR`` set), the
lines stay plain text.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "devshell.http"
#: ANSI SGR codes: the time dimmed, each level in its color
DIM, RESET = "\033[2m", "\033[0m"
LEVEL_COLORS = {"DEBUG": "\033[36m", "INFO": "\033[32m", "WARNING": "\033[33m", "ERROR": "\033[31m",
                "CRITICAL": "\033[1;31m"}


def wants_color(stream: Any) -> bool:
    """True for a terminal, unless ``NO_COLOR`` is set (https://no-color.org) or ``TERM`` is dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def colored_level(levelname: str) -> str:
    color = LEVEL_COLORS.get(levelname)
    return f"{color}{levelname}{RESET}" if color else levelname


class ColorFormatter(logging.Formatter):
    """LOG_FORMAT with the time dimmed and the level colored (the record itself is left untouched)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        values = {**record.__dict__, "asctime": f"{DIM}{record.asctime}{RESET}",
                  "levelname": colored_level(record.levelname)}
        return self._fmt % values if self._fmt else record.getMessage()

access_logger = logging.getLogger(ACCESS_LOGGER)


def configure_logging(level: str = "info") -> None:
    """Log to stderr (the access log included) at *level*, for a server run from the command line."""
    root = logging.getLogger()
    if not any(getattr(handler, "_devshell", False) for handler in root.handlers):
        handler = logging.StreamHandler()
        color = wants_color(handler.stream)
        handler.setFormatter(ColorFormatter(LOG_FORMAT) if color else logging.Formatter(LOG_FORMAT))
        handler._devshell = True  # type: ignore[attr-defined]
        handler._devshell_color = color  # type: ignore[attr-defined]
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
        self._color = False

    def enabled(self) -> bool:
        return access_logger.isEnabledFor(logging.INFO)

    def log(self, message: str) -> None:
        handlers = logging.getLogger().handlers
        if handlers != self._handlers:  # (re)configured: find devshell's handler again
            self._handlers = list(handlers)
            ours = next((handler for handler in handlers if getattr(handler, "_devshell", False)), None)
            self._stream = getattr(ours, "stream", None)
            self._color = bool(getattr(ours, "_devshell_color", False))
        stream = self._stream
        if stream is None:
            access_logger.info("%s", message)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        asctime = f"{self._stamp},{int((now - second) * 1000):03d}"
        level = "INFO"
        if self._color:
            asctime, level = f"{DIM}{asctime}{RESET}", colored_level(level)
        stream.write(LOG_FORMAT % {"asctime": asctime, "process": os.getpid(), "levelname": level,
                                   "name": ACCESS_LOGGER, "message": message} + "\n")
        stream.flush()
