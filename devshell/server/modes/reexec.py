"""Re-executing a server process (same pid): a restart, or gevent mode's patched interpreter.

A restart runs the same command line again and keeps the listening socket open
across the exec (see :mod:`.listening_socket`). gevent mode must be
monkey-patched before anything imports socket or threading, so a gevent server
started any other way becomes ``python -m devshell.server.modes.gevent_entry``
first; that entry module is also what the notebook handles and the prefork
master start directly, so a gevent process is always one interpreter image.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from .listening_socket import LISTEN_FD_ENV

if TYPE_CHECKING:
    from ...config import Config

logger = logging.getLogger(__name__)

GEVENT_ENTRY_MODULE = "devshell.server.modes.gevent_entry"  #: monkey-patches first thing, then runs devshell


def gevent_command(*arguments: str) -> list[str]:
    """``python -m <gevent entry> server --mode gevent ARGUMENTS``: a gevent server, patched from the start."""
    return [sys.executable, "-m", GEVENT_ENTRY_MODULE, "server", "--mode", "gevent", *arguments]


def reexec(listen_fd: int | None) -> NoReturn:
    """Replace this process by a fresh run of the same command line, keeping *listen_fd* open."""
    if listen_fd is not None:
        os.set_inheritable(listen_fd, True)
        os.environ[LISTEN_FD_ENV] = str(listen_fd)
    argv = [sys.executable, *getattr(sys, "orig_argv", [sys.executable, *sys.argv])[1:]]
    logger.info("restarting: %s", " ".join(argv))
    _flush()
    os.execv(sys.executable, argv)


def exec_gevent_entry(config: "Config") -> NoReturn:
    """Become a gevent server in a patched interpreter (same pid), with the settings of *config*."""
    from ...config import child_environment

    environ = {**os.environ, **child_environment(config)}
    _flush()
    os.execve(sys.executable, gevent_command(), environ)


def _flush() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
