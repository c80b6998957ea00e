"""The request a route receives: its database, session, locale, cursor and environment, and its JSON body.

Everything that costs a query is lazy: a public route that never looks at
``request.db``, ``request.session`` or ``request.env`` is served without touching
PostgreSQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, NotFound, UnsupportedMediaType
from werkzeug.wrappers import Request as BaseRequest, Response

from ... import json_input
from .sessions import COOKIE_NAME, LIFETIME_SECONDS, Session, load_session, save_session

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection, cursor as PgCursor

    from ...addon import Route
    from ...orm import Environment
    from .application import Root

DEFAULT_LOCALE = "en_US"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNSET: Any = object()


def normalize_locale(tag: str) -> str:
    """``fr-ch`` -> ``fr_CH``, ``EN`` -> ``en``, ``zh-hant-tw`` -> ``zh_Hant_TW``."""
    parts = [part for part in tag.replace("_", "-").split("-") if part]
    if not parts:
        return DEFAULT_LOCALE
    out = [parts[0].lower()]
    for part in parts[1:]:
        out.append(part.upper() if len(part) == 2 or part.isdigit() else part.title())
    return "_".join(out)


class MissingField(BadRequest, KeyError):
    """A field a route needs is not in the JSON body: 400 (still a KeyError for code that catches one)."""

    def __str__(self) -> str:
        return str(self.description)


class Payload(dict):  # type: ignore[type-arg]
    """A request's JSON object: ``payload["x"]`` on a missing field answers 400, not 500."""

    def __missing__(self, key: Any) -> Any:
        raise MissingField(f"the JSON body has no {key!r} field")


class Request(BaseRequest):
    """A werkzeug request plus devshell's bindings: ``db``, ``session``, ``uid``, ``locale``, ``cr``, ``env``."""

    json_module = json_input  #: NaN, Infinity and too-deep nesting are malformed JSON (400)

    def __init__(self, environ: dict[str, Any], app: "Root") -> None:
        super().__init__(environ, populate_request=False)
        self.app = app
        self.route: Route | None = None
        self.max_content_length = app.max_body_size
        self._db: str | None = _UNSET
        self._session: Session | None = _UNSET
        self._cookie: tuple[str, str] | None = _UNSET
        self._drop_cookie = False
        self._resign = False
        self._new_session: Session | None = None
        self._conn: PgConnection | None = None
        self._conn_db: str | None = None
        self._cr: PgCursor | None = None
        self._env: Environment | None = None
        self._payload: Payload | None = None

    # -- database binding ------------------------------------------------------------------------

    @property
    def explicit_db(self) -> str | None:
        """The ``?db=`` of the query string, if any."""
        return self.args.get("db") if "db=" in self.environ.get("QUERY_STRING", "") else None

    @property
    def db(self) -> str | None:
        """The database of this request: ``?db=``, the session's, or the only one visible; else None."""
        if self._db is _UNSET:
            self._db = self._resolve_db()
        return self._db

    @property
    def filter_host(self) -> str:
        """The host dbfilter sees ("" when the filter does not depend on it: computing it costs)."""
        return self.host if self.app.databases.host_dependent else ""

    def _resolve_db(self) -> str | None:
        databases = self.app.databases
        explicit = self.explicit_db
        if explicit is not None:
            if not databases.serves(explicit, self.filter_host):
                raise NotFound(f"database {explicit!r} not found")
            return explicit
        cookie = self._signed_cookie()
        if cookie is not None and databases.serves(cookie[0], self.filter_host):
            self._session = self._load_session(*cookie)
            if self._session is not None:
                return cookie[0]
        return databases.default(self.filter_host)

    def require_db(self) -> str:
        db = self.db
        if db is None:
            raise NotFound("no database selected: add ?db=NAME to the URL (or log in on a database)")
        return db

    def bind(self, db: str) -> None:
        """Serve the rest of this request on *db* (login names its database in the body)."""
        if not self.app.databases.serves(db, self.filter_host):
            raise NotFound(f"database {db!r} not found")
        self._db = db
        if self._session is not None and self._session is not _UNSET and self._session.db != db:
            self._session = None

    # -- session -----------------------------------------------------------------------------------

    def _signed_cookie(self) -> tuple[str, str] | None:
        """(db, sid) of the session cookie when its database is served here and one of its keys signed it."""
        if self._cookie is _UNSET:
            self._cookie = None
            raw = self.cookies.get(COOKIE_NAME) if "HTTP_COOKIE" in self.environ else None
            signer = self.app.signer
            parsed = signer.parse(raw)
            if parsed is not None and not self.app.databases.serves(parsed.db, self.filter_host):
                return None  # a database not served here: its keys are not ours to read, nor the cookie to drop
            verified = signer.verify(parsed) if parsed is not None else None
            self._drop_cookie = raw is not None and verified is None
            if verified is not None:
                self._cookie = (verified.db, verified.sid)
                self._resign = not verified.current  # signed with a rotated key: sign it again with the current one
        return self._cookie

    def _load_session(self, db: str, sid: str) -> Session | None:
        if "base" not in self.app.databases.installed_modules(db):
            session = None  # no session table (any more): nothing to look up
        else:
            session = load_session(self.cursor_for(db), db, sid)
        if session is None:
            self._drop_cookie = True  # stale: expired, logged out or deleted
        return session

    @property
    def session(self) -> Session | None:
        """The logged-in session bound to this request's database, or None."""
        if self._session is _UNSET:
            db = self.db  # may load the session on the way
            if self._session is _UNSET:
                cookie = self._signed_cookie()
                self._session = self._load_session(*cookie) if cookie and db and cookie[0] == db else None
        return self._session

    @property
    def uid(self) -> int | None:
        session = self.session
        return session.uid if session is not None else None

    @property
    def is_admin(self) -> bool:
        session = self.session
        return bool(session is not None and session.uid is not None and session.is_admin)

    def start_session(self, session: Session) -> None:
        """Make *session* this request's (login): its cookie is set on the response."""
        self._session = self._new_session = session
        self._db = session.db
        self._drop_cookie = False

    def end_session(self) -> None:
        """Forget the session (logout): its cookie is removed from the browser."""
        self._session = None
        self._drop_cookie = True

    @property
    def locale(self) -> str:
        """The session's ``lang``, else the best of Accept-Language, else en_US."""
        cookie = self._signed_cookie()
        session = self.session if cookie is not None else None
        if session is not None and isinstance(session.get("lang"), str):
            return normalize_locale(session["lang"])
        for value, _quality in self.accept_languages:
            if value != "*":
                return normalize_locale(value)
        return DEFAULT_LOCALE

    # -- database access ---------------------------------------------------------------------------

    def cursor_for(self, db: str) -> "PgCursor":
        if self._conn is not None and self._conn_db != db:
            self.release()
        if self._conn is None:
            self._conn = self.app.databases.pool(db).acquire()
            self._conn_db = db
        if self._cr is None:
            self._cr = self._conn.cursor()
        return self._cr

    @property
    def cr(self) -> "PgCursor":
        """A cursor on this request's database, in one transaction committed after a successful route."""
        return self.cursor_for(self.require_db())

    @property
    def conn(self) -> "PgConnection":
        self.cr  # noqa: B018 - binds the connection
        assert self._conn is not None
        return self._conn

    @property
    def env(self) -> "Environment":
        """An Environment sharing this request's connection and transaction."""
        if self._env is None or self._conn is None or self._env.conn is not self._conn:
            from ...orm import Environment

            self._env = Environment(self.conn, self.require_db(), self.app.config, catalogs=self.app.catalogs)
        return self._env

    @property
    def bus(self) -> Any:
        from ...messaging.bus import Bus

        return Bus(self)

    def release(self, *, commit: bool = False) -> None:
        """Commit (or roll back) and give the connection back to its pool."""
        conn, env, self._conn, self._cr, self._env = self._conn, self._env, None, None, None
        if conn is None:
            return
        if env is not None and not env.cr.closed:
            env.cr.close()
        pool = self.app.databases.pool(self._conn_db or "")
        self._conn_db = None
        try:
            if commit:
                conn.commit()
        finally:
            pool.release(conn)

    def finish(self, response: Response, *, ok: bool) -> Response:
        """Save the session, commit (when *ok*), release the connection and set the cookie."""
        try:
            session = self._session if self._session is not _UNSET else None
            if ok and session is not None and (session.modified or session.refresh):
                save_session(self.cursor_for(session.db), session)
            self.release(commit=ok)
        except BaseException:
            self.release()
            raise
        session = self._new_session
        if session is None and self._resign and ok and self._session is not _UNSET:
            session = self._session  # a live session whose cookie a rotated key signed
        if session is not None:
            response.set_cookie(COOKIE_NAME, self.app.signer.sign(session.db, session.sid),
                                max_age=LIFETIME_SECONDS, httponly=True, samesite="Lax", secure=self.is_secure,
                                path="/")
        elif self._drop_cookie:
            response.delete_cookie(COOKIE_NAME, httponly=True, samesite="Lax", secure=self.is_secure, path="/")
        return response

    # -- JSON ---------------------------------------------------------------------------------------

    @property
    def payload(self) -> Payload:
        """The JSON object of the body ({} when there is none).

        415 when the body is not JSON; 400 when it is malformed, holds a non-finite
        number, or is not an object (``[]``, ``"x"``, ``null``, ``1``). A route that
        takes another kind of JSON value reads ``request.get_json()`` itself.
        """
        if self._payload is not None:
            return self._payload
        if self.method not in BODY_METHODS or not (self.content_length or self.headers.get("Transfer-Encoding")):
            self._payload = Payload()
            return self._payload
        if not self.is_json:
            raise UnsupportedMediaType("this route takes a JSON body: send Content-Type: application/json")
        data = self.get_data(cache=True)
        value = self.get_json(cache=True) if data.strip() else {}
        if not isinstance(value, dict):
            raise BadRequest(f"the JSON body must be an object ({{...}}), not {_json_kind(value)}")
        self._payload = Payload(value)
        return self._payload

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        raise BadRequest(f"malformed JSON body: {e}")

    def wants_json(self) -> bool:
        """JSON errors for JSON routes and for clients that send or prefer JSON."""
        if self.route is not None and self.route.type == "json":
            return True
        if self.is_json:
            return True
        accept = self.accept_mimetypes
        return accept.quality("application/json") > accept.quality("text/html")


def _json_kind(value: Any) -> str:
    """How an error message names a JSON value that is not an object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"
