"""devshell: the developer toolbelt of a module-based, PostgreSQL-backed WSGI application.

The public API is imported lazily, so ``import devshell`` (and ``devshell --help``)
costs almost nothing until a function is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__ as __version__

#: public name -> module that defines it
_LAZY = {
    "DevshellError": "devshell.errors",
    "UsageError": "devshell.errors",
    "load_config": "devshell.config",
    "populate": "devshell.populate",
    "scaffold": "devshell.scaffold",
    "connect": "devshell.orm",
    "Environment": "devshell.orm",
    "start_server": "devshell.server.background.launch",
    "servers": "devshell.server.background.registry",
    "stop_all": "devshell.server.background.registry",
    "load_ipython_extension": "devshell.kernel",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from .config import load_config as load_config
    from .errors import DevshellError as DevshellError, UsageError as UsageError
    from .orm import Environment as Environment, connect as connect
    from .scaffold import scaffold as scaffold
    from .kernel import load_ipython_extension as load_ipython_extension
    from .server.background.launch import start_server as start_server
    from .server.background.registry import servers as servers, stop_all as stop_all


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devshell' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
