"""WebSocket at ``/websocket`` (every mode): the bus pushed to browsers and scripts as messages commit.

The WSGI server hands the connection over once it has read the upgrade request's
head (threaded: werkzeug's handler, gevent: pywsgi's; in prefork mode the HTTP
workers pass such connections to the gevent process, whose pywsgi does it).
wsproto does the protocol (handshake, frames, close codes); this module adds
devshell's rules, in the order a request meets them:

- a page of another site is refused (403), by the rules of a state-changing POST
  (``Sec-Fetch-Site``, else ``Origin`` against this server's own host; the
  ``trusted_origins`` pass); clients without those headers (scripts) pass;
- the database, session and dbfilter come from the upgrade request, like any
  request's (``?db=``, the session cookie, the only database); the socket reads
  the public channels and its session's private ones (:func:`~devshell.messaging.bus.readable_channels`);
- then :class:`~.websocket_session.WebSocketSession` runs the conversation.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

from werkzeug.exceptions import Forbidden, HTTPException, NotFound, ServiceUnavailable

from ...errors import DatabaseError

if TYPE_CHECKING:
    from .application import Root
    from .websocket_session import WebSocketSession

logger = logging.getLogger(__name__)

WEBSOCKET_PATH = "/websocket"


class WebSocketSessions:
    """The open sessions of one application, told to close when the server stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[WebSocketSession] = set()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, session: "WebSocketSession") -> None:
        with self._lock:
            self._open.add(session)

    def discard(self, session: "WebSocketSession") -> None:
        with self._lock:
            self._open.discard(session)

    def close_all(self) -> None:
        """Ask every session to close with 1012 (reconnect); returns at once."""
        with self._lock:
            sessions = list(self._open)
        for session in sessions:
            session.stop()


def is_websocket_request(environ: dict[str, Any]) -> bool:
    """True for a WebSocket upgrade request to ``/websocket`` (what the WSGI servers hand over)."""
    return (environ.get("PATH_INFO") == WEBSOCKET_PATH and environ.get("REQUEST_METHOD") == "GET"
            and "websocket" in environ.get("HTTP_UPGRADE", "").lower())


def websocket_url(http_url: str) -> str:
    """``ws://host:port/websocket`` for a server at *http_url* (``https`` gives ``wss``)."""
    scheme, _, rest = http_url.partition("://")
    return ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + WEBSOCKET_PATH


def _headers(environ: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The request's headers again, as wsproto's handshake reads them."""
    headers = [(key[5:].replace("_", "-").lower(), str(value)) for key, value in environ.items()
               if key.startswith("HTTP_")]
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers if name != "content-length"]


def _target(environ: dict[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = environ.get("QUERY_STRING", "")
    return quote(environ.get("PATH_INFO", "/")) + (f"?{query}" if query else "")


def _origin_refusal(app: "Root", environ: dict[str, Any]) -> str | None:
    """Why the upgrade comes from another site's page, or None when it may connect.

    The rules of a state-changing POST (:mod:`.cross_site`), for a GET that opens
    a socket: a trusted ``Origin`` passes; else the browser's ``Sec-Fetch-Site``
    must say ``same-origin``; else the ``Origin`` must name this server's host; a
    client that sends neither is not a browser page and passes.
    """
    from .cross_site import refusing_header

    refused = refusing_header(environ.get("HTTP_ORIGIN"), environ.get("HTTP_SEC_FETCH_SITE"),
                              environ.get("HTTP_HOST", ""), app.config.get("trusted_origins") or ())
    if refused is None:
        return None
    header, value = refused
    if header == "Sec-Fetch-Site":
        return f"the browser says this page is another site's (Sec-Fetch-Site: {value[:40]})"
    return f"a page of {value[:100]!r} may not open a WebSocket here (trusted_origins lists those that may)"


def serve_websocket(app: "Root", environ: dict[str, Any], sock: socket.socket,
                    answered: Callable[[int], None] = lambda status: None) -> None:
    """Answer the upgrade request read from *sock*, then run the session until it closes.

    *answered* gets the HTTP status once it is sent (101, or the refusal's): the
    access line is logged when the socket opens, not when it closes.
    """
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, RejectConnection, RejectData
    from wsproto.events import Request as UpgradeRequest
    from wsproto.utilities import RemoteProtocolError

    from .websocket_session import WebSocketSession

    ws = WSConnection(ConnectionType.SERVER)

    def reject(status: int, message: str) -> None:
        body = json.dumps({"error": {"code": status, "message": message}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            _sendall(sock, ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
                     + ws.send(RejectData(data=body)))
        except Exception as exc:  # the client is gone, or the handshake never got that far
            logger.debug("could not refuse a WebSocket with %d: %s", status, exc)
        answered(status)

    try:
        ws.initiate_upgrade_connection(_headers(environ), _target(environ))
        upgrade = next((event for event in ws.events() if isinstance(event, UpgradeRequest)), None)
    except RemoteProtocolError as exc:
        reject(400, f"not a WebSocket handshake: {exc}")
        return
    if upgrade is None:
        reject(400, "not a WebSocket handshake")
        return
    refusal = _origin_refusal(app, environ)
    if refusal is not None:
        reject(Forbidden.code, refusal)
        return
    if app.stopping:
        reject(ServiceUnavailable.code, "the server is stopping: connect again in a moment")
        return
    try:
        db, uid, sid = _bind(app, environ)
    except HTTPException as exc:
        reject(exc.code or 400, exc.description or exc.name)
        return
    except DatabaseError as exc:
        reject(ServiceUnavailable.code, exc.message)
        return
    _sendall(sock, ws.send(AcceptConnection()))
    answered(101)
    conn = ws.connection
    assert conn is not None
    del ws, environ  # a socket open for hours keeps only what its session needs
    WebSocketSession(app, sock, conn, db, uid, sid).run()


def _bind(app: "Root", environ: dict[str, Any]) -> tuple[str, int | None, str | None]:
    """The database of the upgrade request and its session's user and id (a NotFound without a database)."""
    from .request import Request

    request = Request(environ, app)
    try:
        db = request.require_db()
        if "base" not in app.databases.installed_modules(db):
            raise NotFound(f"database {db!r} is not a devshell database (initialise it: devshell db init -d {db})")
        session = request.session
        return db, request.uid, session.sid if session is not None else None
    finally:
        request.release()


def _sendall(sock: socket.socket, data: bytes) -> None:
    if data:
        sock.sendall(data)
