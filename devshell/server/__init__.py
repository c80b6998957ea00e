"""The application server: WSGI dispatch (``Root``), the servers of each mode and their factory.

Nothing heavy is imported here; ``make_server`` imports the mode it is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Root": "devshell.server.app",
    "Server": "devshell.server.base",
    "make_server": "devshell.server.base",
    "MODES": "devshell.server.base",
    "Bus": "devshell.server.bus",
    "CronControl": "devshell.server.cron",
}

__all__ = list(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from .app import Root as Root
    from .base import MODES as MODES, Server as Server, make_server as make_server
    from .bus import Bus as Bus
    from .cron import CronControl as CronControl


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devshell.server' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
