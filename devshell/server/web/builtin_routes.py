"""devshell's own routes: health, database list, login, logout, session, long polling (SPEC §5)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, NotFound, Unauthorized

from werkzeug.wrappers import Response

from ...addon import Route
from .responses import json_response
from .routing import BUILTIN

LONGPOLLING_PORT_HEADER = "X-Devshell-Longpolling-Port"

if TYPE_CHECKING:
    from .request import Request


def health(request: "Request") -> dict[str, Any]:
    return {"status": "ok", "mode": request.app.mode, "pid": os.getpid()}


def database_list(request: "Request") -> list[str]:
    return request.app.databases.visible(request.host)


def _require_devshell_db(request: "Request", db: str) -> None:
    if "base" not in request.app.databases.installed_modules(db):
        raise NotFound(f"database {db!r} is not a devshell database (initialise it: devshell db init -d {db})")


def login(request: "Request") -> dict[str, Any]:
    """``{"login", "password", "db"}`` -> a new session (cookie); 401 without saying which part was wrong."""
    from ...users import check_password
    from .sessions import create_session, delete_session

    payload = request.payload
    login_name, password, db = payload.get("login"), payload.get("password"), payload.get("db")
    lang = payload.get("lang")
    if not isinstance(login_name, str) or not isinstance(password, str):
        raise BadRequest("send {\"login\": \"…\", \"password\": \"…\", \"db\": \"…\"}")
    if (db is not None and not isinstance(db, str)) or (lang is not None and not isinstance(lang, str)):
        raise BadRequest("'db' and 'lang' must be strings")
    previous = request.session
    if db:
        request.bind(db)
    db = request.require_db()
    _require_devshell_db(request, db)
    cr = request.cr
    uid = check_password(cr, login_name, password)
    if uid is None:
        raise Unauthorized("invalid login or password")
    if previous is not None and previous.db == db:
        delete_session(cr, previous)  # a login always starts a fresh session id
    session = create_session(cr, db, uid, {"lang": lang} if lang else {})
    request.start_session(session)
    return {"uid": uid, "login": session.login, "db": db, "is_admin": session.is_admin}


def logout(request: "Request") -> dict[str, Any]:
    from .sessions import delete_session

    session = request.session
    if session is not None:
        delete_session(request.cursor_for(session.db), session)
    request.end_session()
    return {"status": "logged out"}


def session_info(request: "Request") -> dict[str, Any]:
    session = request.session
    return {"db": request.db, "uid": request.uid, "login": session.login if session else None,
            "is_admin": request.is_admin, "locale": request.locale}


def longpoll(request: "Request") -> list[dict[str, Any]] | Response:
    """``{"channels", "last", "timeout"}`` -> the messages newer than ``last``, waiting up to ``timeout``.

    In a prefork HTTP worker (one request at a time) the poll is short: the
    messages there are now, and a header naming the gevent process's port,
    where a reverse proxy should send ``/longpolling`` (``--print-proxy-config``).
    """
    from ...messaging.bus import fetch_messages, parse_poll, poll

    try:
        channels, last, timeout = parse_poll(request.payload)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    db = request.require_db()
    _require_devshell_db(request, db)

    def read() -> list[dict[str, Any]]:
        try:
            return fetch_messages(request.cr, channels, last)
        finally:
            request.release(commit=True)  # never hold a connection while waiting

    app = request.app
    if app.longpolling_port is not None:  # a prefork HTTP worker: answer at once, name the long-polling port
        response = json_response(read())
        response.headers[LONGPOLLING_PORT_HEADER] = str(app.longpolling_port)
        return response
    return poll(app.listener, db, read, channels, timeout, stopping=lambda: app.stopping, shared=app.bus_reads,
                last=last)


def deploy(request: "Request") -> dict[str, Any]:
    """``POST /devshell/deploy`` (multipart ``file``, ``db``, ``force``): install an uploaded module archive."""
    from .deploy_route import receive

    return receive(request)


def builtin_routes(list_db: bool) -> list[Route]:
    routes = [
        Route(BUILTIN, "/web/health", health, ("GET",), "public", "json"),
        Route(BUILTIN, "/web/login", login, ("POST",), "public", "json"),
        Route(BUILTIN, "/web/logout", logout, ("POST",), "public", "json"),
        Route(BUILTIN, "/web/session", session_info, ("GET",), "public", "json"),
        Route(BUILTIN, "/longpolling/poll", longpoll, ("POST",), "public", "json"),
        Route(BUILTIN, "/devshell/deploy", deploy, ("POST",), "admin", "http"),
    ]
    if list_db:
        routes.append(Route(BUILTIN, "/web/database/list", database_list, ("GET",), "public", "json"))
    return routes
