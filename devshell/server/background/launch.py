"""``devshell.start_server()``: a server in the background of a notebook or a shell, ready when it returns.

threaded runs in this process; gevent and prefork run as child processes that
exit with this one. Starting again under a name or a port one of our servers
already uses replaces that server, so running a notebook cell again is harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ...errors import UsageError
from . import registry
from .handle import READY_TIMEOUT, ServerHandle

if TYPE_CHECKING:
    from ...config import Config


def server_config(mode: str, db: str | None, port: int, options: dict[str, Any],
                  base: "Config | None" = None) -> "Config":
    """The configuration of a background server: *base* (default: loaded from the cwd) plus *options*.

    The configuration validates the mode and applies ``workers > 0`` (prefork only).
    """
    from ...config import load_config, suggestion
    from ...settings import SETTINGS

    for key in options:
        if key not in SETTINGS:
            raise UsageError(f"unknown server option {key!r}{suggestion(key)}: options are configuration "
                             "keys, e.g. max_cron_threads=0, workers=2, dbfilter='^demo', addons_path=['addons']")
    overrides = {**options, "http_port": port, "mode": mode}
    if db is not None:
        overrides["db_name"] = db
    if mode != "threaded":  # the long-polling port must not collide either: a free one unless given
        overrides.setdefault("gevent_port", port if mode == "gevent" else 0)
    config = (base if base is not None else load_config()).with_overrides(overrides, source="start_server")
    return config.for_server()


def start_server(mode: str = "threaded", db: str | None = None, port: int = 0, name: str | None = None, *,
                 config: "Config | None" = None, timeout: float = READY_TIMEOUT, proxy: bool | None = None,
                 **options: Any) -> ServerHandle:
    """Start a devshell server in the background and return its handle once it is ready.

    *mode* threaded runs in this process; gevent and prefork run as child
    processes that exit with this one. *port* 0 picks a free port. *options* are
    configuration keys (``max_cron_threads=0``, ``workers=2``, ``dbfilter=…``).
    A server of ours already using *name* (default: the mode) or *port* is
    stopped first, so running a notebook cell again replaces its server.
    *proxy* True serves browsers through jupyter-server-proxy (``handle.public_url``
    is ``…/proxy/PORT/`` and the server honours the prefix), False never does,
    None (the default) detects JupyterHub, Binder or a Jupyter server around the kernel.
    """
    from .notebook_proxy import proxy_base

    base = proxy_base(proxy)
    if base is not None:
        options.setdefault("proxy_mode", 1)
    settings = server_config(mode, db, port, options, config)
    name = name or settings["mode"]
    for handle in registry.clashing(name, port):
        handle.stop()
    return ServerHandle(settings, name, base).start(timeout)


def server_function(db: str | None, config: "Config | None" = None) -> Callable[..., ServerHandle]:
    """``server(mode="threaded", **options)`` for a shell or kernel namespace: start_server on *db*."""

    def server(mode: str = "threaded", **options: Any) -> ServerHandle:
        """Start a server on this database in the background: server(), server("gevent"), server(port=8069)."""
        options.setdefault("db", db)
        options.setdefault("config", config)
        return start_server(mode, **options)

    server.__qualname__ = "server"
    return server
