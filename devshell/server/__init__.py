"""The application server, by concern: the WSGI application, the modes that serve it, background servers.

- :mod:`.web`: the WSGI application (``Root``), its routes, sessions and databases, deploy;
- :mod:`.modes`: threaded, gevent, the prefork master and its children, and their factory;
- :mod:`.background`: ``devshell.start_server()`` and its handles (notebooks, the shell);
- :mod:`.proxy_config`: ``--print-proxy-config``.

Nothing heavy is imported here; ``make_server`` imports the mode it is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Root": "devshell.server.web.application",
    "Server": "devshell.server.modes.server",
    "make_server": "devshell.server.modes.factory",
}

__all__ = list(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from .modes.factory import make_server as make_server
    from .modes.server import Server as Server
    from .web.application import Root as Root


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devshell.server' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
