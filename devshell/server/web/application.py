"""The WSGI entry point (seed: ``Root``): modules loaded on the first request, then dispatch.

Per request: the body limit, the database named by ``?db=`` (a database that the
filter hides is a 404), the route, its ``auth``, the endpoint, then commit and
the session cookie. Errors become JSON for JSON routes and clients, a small HTML
page otherwise; tracebacks are shown only in dev mode (``--dev``).
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import TYPE_CHECKING, Any, Callable, Iterable

from werkzeug.exceptions import (BadRequest, HTTPException, InternalServerError, MethodNotAllowed, NotFound,
                                 RequestEntityTooLarge, ServiceUnavailable)
from werkzeug.routing import RequestRedirect
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Response

from ...errors import DatabaseError, DevshellError
from ...messaging.bus import SharedReads
from .databases import Databases
from .diagnostics import ServingProblems
from .request import Request
from .responses import error_response, start_response_for
from .routing import STATIC_ENDPOINT, build_map, call_route, static_table
from .sessions import CookieSigner, SigningKeys
from .websocket import WebSocketSessions

if TYPE_CHECKING:
    import socket

    from ...addon import Cron, Route
    from ...config import Config
    from ...db.catalog import Catalog
    from ...messaging.subscriptions import Subscriptions
    from ...modules import Module
    from ...site import Site

logger = logging.getLogger(__name__)

MAX_BODY_SIZE = 64 * 1024 * 1024
_NO_METHODS: dict[str, str] = {}


class Root:
    """The devshell WSGI application for one server process (any mode)."""

    def __init__(self, site: "Site | Config", *, max_body_size: int = MAX_BODY_SIZE) -> None:
        """*site* (or a bare configuration, made a Site) names the database server and the modules."""
        from ...messaging.bus import collect_old_messages
        from ...messaging.listener import Listener
        from ...site import Site
        from .deployed_modules import DeployWatcher

        self.site = Site.of(site)
        self.config = config = self.site.config
        self.mode: str = config["mode"]
        self.dev = bool(config["dev"])
        self.max_body_size = max_body_size
        #: behind ``proxy_mode`` trusted proxies: their X-Forwarded-For/-Proto/-Host/-Prefix are honoured
        #: (a prefix such as jupyter-server-proxy's /proxy/PORT becomes SCRIPT_NAME: links and redirects keep it)
        self.proxy_fix: Callable[..., Iterable[bytes]] | None = None
        if config["proxy_mode"]:
            from werkzeug.middleware.proxy_fix import ProxyFix

            hops = config["proxy_mode"]
            self.proxy_fix = ProxyFix(self, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)
        self.address = self.site.address
        self.databases = Databases(config, self.address)  # db_maxconn connections per database at most
        self.catalogs: dict[str, Catalog] = {}  #: db -> reflected catalog, shared by request environments
        self.listener: Listener = Listener(self.address, housekeeping=collect_old_messages)
        self.signer = CookieSigner(SigningKeys(config, self.databases.borrow))  #: secret_key, or each database's
        self.stopping = False
        #: prefork's HTTP workers: long polls are the gevent process's job (this is its port); polls here are short
        self.longpolling_port: int | None = None
        self.bus_reads = SharedReads()  #: long polls woken together share their query
        self.websockets = WebSocketSessions()  #: open WebSockets, closed with 1012 when the server stops
        self._subscriptions: Subscriptions | None = None
        self._lock = threading.Lock()
        self._loaded = False
        self._map: Any = None
        self._adapter: Any = None
        self._static: dict[str, dict[str, str]] = {}
        self._endpoints: dict[str, Route] = {}
        self.modules: dict[str, Module] = {}
        self.crons: dict[str, Cron] = {}
        self._synced: set[str] = set()
        self._rescan = False  #: reload() was called: the addons path is scanned again on the next load
        self.deployments = DeployWatcher(self)  #: deployed modules: unpacked and reloaded on NOTIFY
        self.problems = ServingProblems(self)  #: installed modules missing from the addons path, per database

    # -- modules -------------------------------------------------------------------------------------

    def load(self) -> None:
        """Import the modules on the addons path and build the routes, once (thread-safe)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            from ...modules import load_contributions
            from .route_listing import app_routes

            self.modules = self.site.rescan() if self._rescan else self.site.modules
            self._rescan = False
            found = load_contributions(
                [self.modules[name] for name in sorted(self.modules)],
                on_error=lambda module, exc: logger.error("module %s not loaded: %s", module.name, exc.message))
            routes: Iterable[Route] = app_routes(self.config["list_db"], found.routes)
            self._map, self._endpoints = build_map(routes)
            # one adapter for every request: matching only needs the path and the method
            self._adapter = self._map.bind("localhost")
            self._static = static_table(self._map)
            self.crons = {job.name: job for job in found.crons}
            self._synced = set()
            self._loaded = True
        self.deployments.start()

    def reload(self) -> None:
        """Forget the loaded modules and cached database facts: the next request loads them again."""
        with self._lock:
            self._loaded = False
            self._rescan = True
        self.databases.forget()
        self.catalogs.clear()
        self.problems.forget()

    @property
    def routes(self) -> "list[Route]":
        """The routes served (built-in and modules'), once loaded; a path+method claimed twice only once."""
        self.load()
        return list(self._endpoints.values())

    # -- WSGI ------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.proxy_fix is not None and "werkzeug.proxy_fix.orig" not in environ:
            return self.proxy_fix(environ, start_response)  # X-Forwarded-* applied, then back here
        if not self._loaded:
            self.load()
        request = Request(environ, self)
        return start_response_for(self.respond(request), environ, start_response)

    def serve_websocket(self, environ: dict[str, Any], sock: "socket.socket",
                        answered: Callable[[int], None] = lambda status: None) -> None:
        """Take over a ``/websocket`` upgrade request read from *sock* until it closes (see :mod:`.websocket`)."""
        from .websocket import serve_websocket

        serve_websocket(self, environ, sock, answered)

    @property
    def subscriptions(self) -> "Subscriptions":
        """The WebSocket subscriptions of this process, fed by one thread (started on first use)."""
        if self._subscriptions is None:
            with self._lock:
                if self._subscriptions is None:
                    from ...messaging.subscriptions import Subscriptions

                    self._subscriptions = Subscriptions(self.listener, self.databases.borrow)
        return self._subscriptions

    def respond(self, request: Request) -> Response:
        try:
            response, ok = self.dispatch(request), True
        except Exception as exc:
            response, ok = self.error(request, exc), False
        try:
            return request.finish(response, ok=ok)
        except Exception as exc:  # the commit itself failed
            return self.error(request, exc)

    def dispatch(self, request: Request) -> Response:
        length = request.environ.get("CONTENT_LENGTH")  # werkzeug enforces the limit on reading too
        if length and length.isdigit() and int(length) > self.max_body_size:
            raise RequestEntityTooLarge(f"the body is larger than {self.max_body_size} bytes")
        if request.explicit_db is not None:
            request.db  # noqa: B018 - a database the filter hides is a 404 whatever the route
        endpoint = self._static.get(request.path, _NO_METHODS).get(request.method)
        values: dict[str, Any] = {}
        if endpoint is None:
            adapter = self._adapter
            try:
                endpoint, values = adapter.match(request.path, request.method)
            except MethodNotAllowed as exc:  # answer in the route's own type (JSON for a JSON route)
                allowed = list(exc.valid_methods or ())
                if allowed:
                    request.route = self._endpoints.get(adapter.match(request.path, allowed[0])[0])
                raise
        if endpoint == STATIC_ENDPOINT:
            return self.static(request, **values)
        route = request.route = self._endpoints[endpoint]
        return call_route(request, route, values)

    def static(self, request: Request, module: str, filename: str) -> Response:
        """``/<module>/static/<path>``: files of any module on the addons path, no database needed."""
        found = self.modules.get(module)
        if found is None:
            raise NotFound()
        return send_from_directory(found.path / "static", filename, request.environ)

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestRedirect):
            return exc.get_response(request.environ)
        details = None
        if isinstance(exc, HTTPException):
            http = exc
            if isinstance(exc, NotFound):
                self.problems.explain_not_found(request)
        elif isinstance(exc, DatabaseError):
            logger.warning("%s %s: %s", request.method, request.path, exc.message)
            http = ServiceUnavailable(exc.message)
        elif isinstance(exc, DevshellError):
            http = BadRequest(exc.message)
        else:
            logger.exception("%s %s failed", request.method, request.path)
            http = InternalServerError()
            if self.dev:
                details = "".join(traceback.format_exception(exc))
        return error_response(http, as_json=request.wants_json(), details=details)

    # -- cron ------------------------------------------------------------------------------------------

    def cron_databases(self) -> list[str]:
        """The databases cron runs on: those of ``-d``, else every database the filter lets through."""
        databases = self.databases
        if databases.names:
            return [db for db in databases.names if databases.exists(db)]
        if "%h" in databases.dbfilter or "%d" in databases.dbfilter:
            return sorted(databases.listing())  # no request, no host: the filter cannot be applied
        return databases.visible("")

    def jobs_for(self, db: str) -> "dict[str, Cron]":
        """The jobs of the modules installed in *db*, stored in its ``devshell_cron`` on first use."""
        self.load()
        installed = self.databases.installed_modules(db)
        if "base" not in installed:
            return {}
        jobs = {name: job for name, job in self.crons.items() if job.module in installed}
        if jobs and db not in self._synced:
            from ...messaging.cron_jobs import sync_jobs

            with self.databases.borrow(db) as conn, conn.cursor() as cr:
                sync_jobs(cr, jobs.values())
            self._synced.add(db)
        return jobs

    def close(self) -> None:
        """Wake every long poll (they answer at once), close the WebSockets (1012), then the listener and pools."""
        self.stopping = True
        self.websockets.close_all()
        self.deployments.stop()
        if self._subscriptions is not None:
            self._subscriptions.close()
        self.listener.close()
        self.databases.close()
