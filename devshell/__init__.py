"""devshell: the developer toolbelt of a module-based, PostgreSQL-backed WSGI application.

The public API is imported lazily, so ``import devshell`` (and ``devshell --help``)
costs almost nothing until a function is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY = {
    "DevshellError": "devshell.errors",
    "UsageError": "devshell.errors",
    "load_config": "devshell.config",
    "populate": "devshell.populate",
    "scaffold": "devshell.scaffold",
    "connect": "devshell.env",
    "Environment": "devshell.env",
    "start_server": "devshell.server.handle",
    "servers": "devshell.server.handle",
    "stop_all": "devshell.server.handle",
    "load_ipython_extension": "devshell.kernel",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from .config import load_config as load_config
    from .env import Environment as Environment, connect as connect
    from .errors import DevshellError as DevshellError, UsageError as UsageError
    from .scaffold import scaffold as scaffold
    from .kernel import load_ipython_extension as load_ipython_extension
    from .server.handle import servers as servers, start_server as start_server, stop_all as stop_all


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devshell' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
