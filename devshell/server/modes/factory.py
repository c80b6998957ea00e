"""The one server factory: the class for ``config["mode"]``, imported only when that mode is asked for.

werkzeug's ``make_server`` is the model: it picks the class and rejects what cannot
run (a missing optional dependency) before anything is bound. The mode itself is
validated by the configuration (its declared choices, and ``workers > 0`` means
prefork, see :meth:`devshell.config.Config.for_server`).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from ...errors import UsageError

if TYPE_CHECKING:
    from ...config import Config
    from ..web.application import Root
    from .prefork_master import PreforkMaster
    from .server import Server

#: mode -> "module:class"
SERVER_CLASSES: dict[str, str] = {
    "threaded": "devshell.server.modes.threaded_server:ThreadedServer",
    "gevent": "devshell.server.modes.gevent_server:GeventServer",
    "prefork": "devshell.server.modes.prefork_master:PreforkMaster",
}
#: mode -> the distributions it runs on (the optional dependencies ``devshell[gevent]`` / ``[prefork]``)
MODE_REQUIREMENTS = {"gevent": ("gevent", "psycogreen"), "prefork": ("gunicorn", "gevent", "psycogreen")}


def check_requirements(mode: str) -> None:
    """A usage error naming the extra to install when *mode*'s optional dependencies are missing."""
    missing = [name for name in MODE_REQUIREMENTS.get(mode, ()) if importlib.util.find_spec(name) is None]
    if missing:
        extra = "gevent,prefork" if mode == "prefork" else mode
        raise UsageError(f"{mode} mode needs {' and '.join(missing)}: pip install 'devshell[{extra}]'")


def make_server(config: "Config", *, app: "Root | None" = None) -> "Server | PreforkMaster":
    """The server of ``config["mode"]`` for *config* (not started).

    threaded and gevent are in-process servers (:class:`~.server.Server`: ``start()`` /
    ``stop()``, or ``run()`` in the foreground); prefork is a supervisor that only
    runs in the foreground (``run()``).
    """
    config = config.for_server()
    mode = config["mode"]
    check_requirements(mode)
    module_name, _, class_name = SERVER_CLASSES[mode].partition(":")
    server_class = getattr(importlib.import_module(module_name), class_name)
    if mode == "prefork":
        if app is not None:
            raise UsageError("prefork mode loads the application in each of its worker processes: "
                             "it cannot serve an application object")
        master: PreforkMaster = server_class(config)
        return master
    server: Server = server_class(config, app=app)
    return server
