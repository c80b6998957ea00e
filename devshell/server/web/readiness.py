"""Whether this server process is ready for traffic: what ``/web/health`` tells a load balancer.

Ready means: not stopping (a SIGTERM'd node answers 503 while it drains, so a
balancer that checks health moves traffic away), the modules loaded, and the
databases it serves reachable now: a ``SELECT 1`` through the pool on the ``-d``
databases (or the request's ``?db=``, or the only one visible), else a fresh
listing of the server's databases. A check waits HEALTH_TIMEOUT seconds at most.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import DatabaseError

if TYPE_CHECKING:
    from .request import Request

HEALTH_TIMEOUT = 5.0  #: seconds a check waits for a pooled connection
LISTING_AGE = 1.0  #: with no database to name, the listing read at most this long ago counts


def not_ready(request: "Request") -> tuple[str, str] | None:
    """``(status, reason)`` when this process should get no traffic, else None."""
    app = request.app
    if app.stopping:
        return "stopping", "the server is stopping: it finishes the requests in flight"
    try:
        app.load()
        databases = app.databases
        names = list(databases.names) or [request.explicit_db or databases.default(request.filter_host) or ""]
        for db in filter(None, names):
            pool = databases.pool(db)
            conn = pool.acquire(timeout=HEALTH_TIMEOUT)
            try:
                with conn.cursor() as cr:
                    cr.execute("SELECT 1")
            finally:
                pool.release(conn)
        if not any(names):
            databases.listing(max_age=LISTING_AGE)
    except DatabaseError as exc:
        return "unavailable", exc.message
    except Exception as exc:  # a psycopg2 error on a broken connection, a module that fails to load
        return "unavailable", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None
