"""Which databases a server serves, and a connection pool for each.

A request is served on a database only when the database exists and passes
``dbfilter`` (a regular expression matched against the whole name, ``%h`` the
request's host and ``%d`` its first subdomain, both escaped) and, when the server
was started with ``-d``, is one of those names. Everything that costs a query
(the database listing, each database's installed modules) is cached for a few
seconds, so a request that names nothing new costs no round trip.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from typing import TYPE_CHECKING

from .connection_pool import DEFAULT_SIZE, ConnectionPool

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from ...config import Config
    from ...db.connection import ServerAddress

LISTING_TTL = 5.0
MODULES_TTL = 10.0
MIN_REFRESH = 1.0  #: a name missing from the listing triggers a refresh at most this often


def host_parts(host: str) -> tuple[str, str]:
    """(host without port, first subdomain) the way dbfilter's ``%h`` and ``%d`` see them."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # leave IPv6 literals alone
    name = name.strip("[]").lower()
    sub, _, rest = name.partition(".")
    if sub == "www" and rest:
        sub = rest.partition(".")[0]
    return name, sub


@functools.lru_cache(maxsize=256)
def compile_dbfilter(pattern: str, host: str) -> re.Pattern[str]:
    name, sub = host_parts(host)
    return re.compile(pattern.replace("%h", re.escape(name)).replace("%d", re.escape(sub)))


def parse_names(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


class Databases:
    """The databases of one server address that a server may bind requests to."""

    def __init__(self, config: "Config", address: "ServerAddress", *, pool_size: int | None = None) -> None:
        self.config = config
        self.address = address
        self.dbfilter: str = config["dbfilter"] or ""
        #: whether the request's host matters (dbfilter with %h or %d); when not, "" stands for any host
        self.host_dependent = "%h" in self.dbfilter or "%d" in self.dbfilter
        self.names = parse_names(config["db_name"])
        self.pool_size: int = pool_size or config.get("db_maxconn") or DEFAULT_SIZE  #: per database (db_maxconn)
        if self.dbfilter:
            compile_dbfilter(self.dbfilter, "")  # a broken expression fails at startup, not per request
        self._lock = threading.Lock()
        self._pools: dict[str, ConnectionPool] = {}
        self._listing: tuple[float, frozenset[str]] = (0.0, frozenset())
        self._modules: dict[str, tuple[float, frozenset[str]]] = {}

    # -- which databases -------------------------------------------------------------------------

    def allowed(self, db: str, host: str = "") -> bool:
        """True when *db* passes ``-d`` and ``dbfilter`` for a request to *host* (existing or not)."""
        if self.names and db not in self.names:
            return False
        return not self.dbfilter or compile_dbfilter(self.dbfilter, host).fullmatch(db) is not None

    def listing(self, *, max_age: float = LISTING_TTL) -> frozenset[str]:
        """Every database on the server that accepts connections (cached *max_age* seconds)."""
        stamp, names = self._listing
        if time.monotonic() - stamp < max_age:
            return names
        from ...db.admin import STAGING_PATTERN  # half-built databases (restore, init) are never served
        from ...db.connection import MAINTENANCE_DB, connect

        conn = connect(self.address, MAINTENANCE_DB, autocommit=True)
        try:
            with conn.cursor() as cr:
                cr.execute("""SELECT datname FROM pg_database
                               WHERE datallowconn AND NOT datistemplate AND datname <> %s AND datname !~ %s
                                 AND has_database_privilege(datname, 'CONNECT')""", (MAINTENANCE_DB, STAGING_PATTERN))
                names = frozenset(row[0] for row in cr.fetchall())
        finally:
            conn.close()
        self._listing = (time.monotonic(), names)
        return names

    def exists(self, db: str) -> bool:
        return db in self.listing() or db in self.listing(max_age=MIN_REFRESH)

    def visible(self, host: str = "") -> list[str]:
        """The databases a request to *host* may use, sorted."""
        candidates = self.listing()
        if self.names:
            candidates = candidates & frozenset(self.names)
        return sorted(db for db in candidates if self.allowed(db, host))

    def serves(self, db: str, host: str = "") -> bool:
        """Allowed and existing: the test a named database must pass (else it is a 404)."""
        return self.allowed(db, host) and self.exists(db)

    def default(self, host: str = "") -> str | None:
        """The database a request names nothing about: the only visible one, else none."""
        if len(self.names) == 1 and self.allowed(self.names[0], host):
            return self.names[0] if self.exists(self.names[0]) else None
        visible = self.visible(host)
        return visible[0] if len(visible) == 1 else None

    # -- connections ----------------------------------------------------------------------------

    def pool(self, db: str) -> ConnectionPool:
        pool = self._pools.get(db)
        if pool is None:
            with self._lock:
                pool = self._pools.get(db)
                if pool is None:
                    pool = self._pools[db] = ConnectionPool(self.address, db, self.pool_size)
        return pool

    def borrow(self, db: str) -> "Borrowed":
        """``with databases.borrow(db) as conn:`` commits on success, rolls back on error."""
        return Borrowed(self.pool(db))

    def installed_modules(self, db: str) -> frozenset[str]:
        """The modules installed in *db* (cached a few seconds; empty for a non-devshell database)."""
        cached = self._modules.get(db)
        if cached is not None and time.monotonic() - cached[0] < MODULES_TTL:
            return cached[1]
        from ...db.connection import connect
        from ...modules.state import installed_modules

        if db in self._pools:
            with self.borrow(db) as conn, conn.cursor() as cr:
                modules = frozenset(installed_modules(cr))
        else:  # a database nobody queried yet (cron probing, public routes): leave no pool behind
            conn = connect(self.address, db, autocommit=True)
            try:
                with conn.cursor() as cr:
                    modules = frozenset(installed_modules(cr))
            finally:
                conn.close()
        self._modules[db] = (time.monotonic(), modules)
        return modules

    def forget(self, db: str | None = None) -> None:
        """Drop cached facts (about *db*, or all): the next request reads them again."""
        if db is None:
            self._modules.clear()
            self._listing = (0.0, frozenset())
        else:
            self._modules.pop(db, None)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


class Borrowed:
    """A pooled connection for the length of a ``with`` block, in one transaction."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.conn: PgConnection | None = None

    def __enter__(self) -> "PgConnection":
        self.conn = self.pool.acquire()
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        conn, self.conn = self.conn, None
        assert conn is not None
        try:
            if exc_type is None:
                conn.commit()
        finally:
            self.pool.release(conn)

