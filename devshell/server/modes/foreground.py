"""A server in the foreground of its process: root policy, pidfile, startup report, signals, restart.

Shared by the in-process servers' :meth:`~.server.Server.run` and the prefork
master. SIGINT/SIGTERM stop gracefully (a second one forces the exit); SIGHUP
and ``--dev reload`` restart by re-executing the process (same pid, pidfile kept,
listening socket handed over).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Iterator

from .code_watcher import watch_for_reload
from .reexec import reexec
from .signals import RELOAD, STOP_SIGNALS, Event, SignalQueue, signal_name

if TYPE_CHECKING:
    from ...config import Config
    from ...site import Site
    from .server import Server

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FORCED = 0, 1
WARNING_PREFIX = "warning: "  #: a startup report line logged as a warning


def check_root_policy(config: "Config", interface: str) -> None:
    """Refuse root on a reachable *interface* (unless ``allow_root``); log the warning it may give."""
    from ...checks import check_root

    warning = check_root(interface, config["allow_root"])
    if warning:
        logger.warning(warning)


@contextlib.contextmanager
def pidfile(path: str | None) -> Iterator[None]:
    """The ``--pidfile`` written for the block and removed after it (nothing without a path)."""
    if path is None:
        yield
        return
    from ...checks import Pidfile

    with Pidfile(path):
        yield


def check_startup(site: "Site") -> None:
    """Refuse what a server could not serve, before it binds: a missing addons folder, a ``-d`` database
    that does not exist (a server that reported healthy there would answer every request with an error)."""
    from ...db.admin import database_exists
    from ...errors import DatabaseError
    from ..web.databases import parse_names

    site.addons_paths  # noqa: B018 - a folder that is not there is a usage error, raised here
    names = parse_names(site.config["db_name"])
    missing = [name for name in names if not database_exists(site.address, name)]
    if missing:
        raise DatabaseError(f"database {', '.join(map(repr, missing))} does not exist on {site.address.describe()}: "
                            f"create it with `devshell db init -d {missing[0]}`, or name another with -d")


def startup_report(site: "Site", mode: str, url: str, cron_label: str) -> list[str]:
    """The startup report (seed): version, config files, addons paths, database server, URL last."""
    from ...version import __version__
    from ..web.databases import parse_names
    from ..web.diagnostics import startup_warnings
    from .connection_checks import connection_warnings

    config = site.config
    names = parse_names(config["db_name"])
    scope = [f"-d {','.join(names)}"] if names else []
    scope += [f"dbfilter {config['dbfilter']!r}"] if config["dbfilter"] else []
    lines = [f"devshell {__version__}, {mode} server, pid {os.getpid()}",
             "config files: " + (", ".join(str(f) for f in config.files) or "none"),
             "addons paths: " + ", ".join(str(p) for p in site.addons_paths),
             f"database server: {site.address.describe()}"
             + (f" (pooled; direct for LISTEN and admin work: {site.address.direct.location()})"
                if site.address.pooled else ""),
             "databases: " + (", ".join(scope) or "all"),
             f"{cron_label}: {config['max_cron_threads']}"]
    if config["dev"]:
        lines.append("dev: " + ",".join(config["dev"]))
    lines.append(deploy_report(config))
    lines += [WARNING_PREFIX + warning for warning in startup_warnings(site, names)]
    lines += [WARNING_PREFIX + warning for warning in connection_warnings(site, mode)]
    lines.append(f"serving {url}")
    return lines


def deploy_report(config: "Config") -> str:
    """What guards ``devshell deploy`` on this server (SECURITY.md): a line of the startup report."""
    from ...users import deploy_password_state

    state = deploy_password_state(config["deploy_password"])
    if state == "disabled":
        return "deploy: disabled (set deploy_password to enable it)"
    if state == "invalid hash":
        return (WARNING_PREFIX + "deploy disabled: deploy_password is not a valid hash "
                "(make one with `devshell deploy --hash-password`)")
    source = config.sources.get("deploy_password", "")
    if state == "plain" and "file" in source:
        return (WARNING_PREFIX + f"deploy enabled, but the {source} holds the deploy password in clear: "
                "store its hash instead (`devshell deploy --hash-password`)")
    return "deploy: enabled (deploy password required)"


def log_lines(lines: list[str]) -> list[str]:
    """Log the report: its lines at INFO, those starting with WARNING_PREFIX at WARNING (prefix dropped)."""
    for line in lines:
        if line.startswith(WARNING_PREFIX):
            logger.warning(line[len(WARNING_PREFIX):])
        else:
            logger.info(line)
    return lines


def run_in_foreground(server: "Server") -> int:
    """Serve until SIGINT/SIGTERM (a second one forces); SIGHUP or a code change restarts."""
    server.check_startup()  # refusals come first, before the root warning and the pidfile
    with pidfile(server.pidfile_path):
        server.check_root()
        signals = SignalQueue(install=True)
        watchdog = server.watchdog(signals)
        watcher = None
        try:
            server.start()
            server.report()
            watchdog.start()
            watcher = watch_for_reload(server.config, signals)
            event = wait_for_signal(signals)
            if watcher is not None:
                watcher.stop()
            restart = event == signal.SIGHUP or event == RELOAD
            finished = stop_gracefully(server, signals, handoff=restart)
            if restart and finished:
                reexec(server.listen_fd())  # same pid: the pidfile stays ours
        finally:
            watchdog.stop()
            if watcher is not None:
                watcher.stop()
            signals.close()
    if not finished:  # requests still running: leave without waiting for them
        logging.shutdown()
        os._exit(EXIT_FORCED)
    return EXIT_OK


def wait_for_signal(signals: SignalQueue) -> Event:
    while True:
        event = signals.get(timeout=1.0)
        if event is not None:
            logger.info("%s received", signal_name(event))
            return event


def stop_gracefully(server: "Server", signals: SignalQueue, *, handoff: bool) -> bool:
    """Stop in a helper thread so that a second SIGINT/SIGTERM can still force the exit."""
    from .server import GRACEFUL_TIMEOUT

    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(server.stop(GRACEFUL_TIMEOUT, handoff=handoff)),
                               name="devshell-stop", daemon=True)
    logger.info("stopping: finishing in-flight requests (send the signal again to force)")
    stopper.start()
    while stopper.is_alive():
        event = signals.get(timeout=0.1)
        if event in STOP_SIGNALS:
            logger.warning("%s received again: forced stop", signal_name(event))
            return False
    return bool(result and result[0])
