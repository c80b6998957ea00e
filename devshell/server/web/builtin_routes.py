"""devshell's own routes: health, database list, login, logout, session, long polling, websocket (SPEC §5)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized

from werkzeug.wrappers import Response

from ...addon import Route
from .responses import json_response
from .routing import BUILTIN

LONGPOLLING_PORT_HEADER = "X-Devshell-Longpolling-Port"
MAX_LOGIN_LENGTH = 256

if TYPE_CHECKING:
    from .request import Request


def health(request: "Request") -> dict[str, Any] | Response:
    """``{"status": "ok", "mode", "pid"}``, plus ``"warnings"`` when a database served lacks module code.

    503 with ``"status": "stopping"`` or ``"unavailable"`` and a ``"reason"`` when this
    process is not ready for traffic (:mod:`.readiness`): what a load balancer checks.
    """
    from .readiness import not_ready

    answer: dict[str, Any] = {"status": "ok", "mode": request.app.mode, "pid": os.getpid()}
    problem = not_ready(request)
    if problem is not None:
        answer["status"], answer["reason"] = problem
        return json_response(answer, 503)
    warnings = request.app.problems.for_request(request)
    if warnings:
        answer["warnings"] = warnings
    return answer


def database_list(request: "Request") -> list[str]:
    return request.app.databases.visible(request.host)


def _require_devshell_db(request: "Request", db: str) -> None:
    if "base" not in request.app.databases.installed_modules(db):
        raise NotFound(f"database {db!r} is not a devshell database (initialise it: devshell db init -d {db})")


def login(request: "Request") -> dict[str, Any]:
    """``{"login", "password", "db"}`` -> a new session (cookie); 401 without saying which part was wrong."""
    from ...users import check_password
    from .login_throttle import guarded_attempt
    from .sessions import create_session, delete_session

    payload = request.payload
    login_name, password, db = payload.get("login"), payload.get("password"), payload.get("db")
    lang = payload.get("lang")
    if not isinstance(login_name, str) or not isinstance(password, str) or not login_name:
        raise BadRequest("send {\"login\": \"…\", \"password\": \"…\", \"db\": \"…\"}")
    if (db is not None and not isinstance(db, str)) or (lang is not None and not isinstance(lang, str)):
        raise BadRequest("'db' and 'lang' must be strings")
    if any("\x00" in text for text in (login_name, db or "", lang or "")) or len(login_name) > MAX_LOGIN_LENGTH:
        raise BadRequest(f"'login', 'db' and 'lang' hold no NUL character; a login is at most {MAX_LOGIN_LENGTH} "
                         "characters")
    previous = request.session
    if db:
        request.bind(db)
    db = request.require_db()
    _require_devshell_db(request, db)
    uid = guarded_attempt(request, "login", login_name, lambda: check_password(request.cr, login_name, password))
    if uid is None:
        raise Unauthorized("invalid login or password")
    cr = request.cr
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
    """Who is logged in, and the private bus channels this session may read (SECURITY.md)."""
    from ...messaging.bus import session_channel, user_channel

    session = request.session
    channels = {}
    if session is not None:
        channels = {"session": session_channel(session.sid)}
        if session.uid is not None:
            channels["user"] = user_channel(session.uid)
    return {"db": request.db, "uid": request.uid, "login": session.login if session else None,
            "is_admin": request.is_admin, "locale": request.locale, "channels": channels}


def longpoll(request: "Request") -> list[dict[str, Any]] | Response:
    """``{"channels", "last", "timeout"}`` -> the messages newer than ``last``, waiting up to ``timeout``.

    In prefork mode the HTTP workers hand long polls to the gevent process
    (:mod:`~devshell.server.modes.prefork_triage`); one reaches a worker only when
    that process cannot take it, and is then answered at once with the messages
    there are, plus a header naming the gevent process's port.
    """
    from ...messaging.bus import fetch_messages, is_private, parse_poll, poll, readable_channels

    try:
        channels, last, timeout = parse_poll(request.payload)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    db = request.require_db()
    _require_devshell_db(request, db)
    private = [channel for channel in channels if is_private(channel)]
    if private:  # a public poll never looks the session up
        session = request.session
        readable = readable_channels(private, request.uid, session.sid if session is not None else None)
        if len(readable) != len(private):
            refused = next(channel for channel in private if channel not in readable)
            raise Forbidden(f"channel {refused!r} is private: only its own user or session may read it")

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


def websocket_info(request: "Request") -> Response:
    """``GET /websocket`` without an upgrade (the upgrade itself never reaches the routes): say what it is."""
    if request.app.longpolling_port is not None:  # a prefork HTTP worker: the hand-off did not happen
        raise ServiceUnavailable("the long-polling process cannot take WebSockets right now: connect again")
    response = json_response({"error": {"code": 426, "name": "Upgrade Required",
                                        "message": "connect with a WebSocket client (ws://HOST/websocket?db=DB)"}},
                             426)
    response.headers["Upgrade"] = "websocket"
    return response


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
        Route(BUILTIN, "/websocket", websocket_info, ("GET",), "public", "json"),
        Route(BUILTIN, "/devshell/deploy", deploy, ("POST",), "admin", "http"),
    ]
    if list_db:
        routes.append(Route(BUILTIN, "/web/database/list", database_list, ("GET",), "public", "json"))
    return routes
