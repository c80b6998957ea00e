"""The background servers of this interpreter: one per name, all stopped when it exits.

The registry makes re-running a notebook cell harmless: a server started under a
name (or on a port) one of ours already uses replaces it.
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .handle import ServerHandle

STOP_TIMEOUT = 5.0

_servers: dict[str, "ServerHandle"] = {}
_lock = threading.RLock()
_atexit_registered = False


def register(handle: "ServerHandle") -> None:
    """Keep *handle* under its name; a different server registered under that name is stopped."""
    global _atexit_registered
    with _lock:
        previous = _servers.get(handle.name)
        _servers[handle.name] = handle
        if not _atexit_registered:
            atexit.register(stop_all)
            _atexit_registered = True
    if previous is not None and previous is not handle:
        previous.stop()


def unregister(handle: "ServerHandle") -> None:
    with _lock:
        if _servers.get(handle.name) is handle:
            del _servers[handle.name]


def clashing(name: str, port: int) -> list["ServerHandle"]:
    """Our servers using *name*, or *port* when it is not 0."""
    with _lock:
        return [handle for handle in _servers.values() if handle.name == name or (port and handle.port == port)]


def servers() -> list["ServerHandle"]:
    """The servers started by :func:`~.launch.start_server` and not stopped, oldest first."""
    with _lock:
        return list(_servers.values())


def stop_all(timeout: float | None = STOP_TIMEOUT) -> list["ServerHandle"]:
    """Stop every server started by :func:`~.launch.start_server` (also run at interpreter exit)."""
    stopped = servers()
    for handle in stopped:
        handle.stop(timeout)
    return stopped
