"""Where the database server is, and connections to it with errors a user can act on.

The server comes from the configuration (``db_*`` settings, ``DEVSHELL_DB_*`` or
libpq's ``PG*`` variables); when none of them names a host or a port, devshell's
embedded cluster is used and started on demand.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator

from ..checks import check_db_user
from ..config import Config
from ..errors import DatabaseError, UsageError

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

MAINTENANCE_DB = "postgres"
MAX_IDENTIFIER_BYTES = 63


@dataclass(frozen=True)
class ServerAddress:
    """Enough to reach a PostgreSQL server, for psycopg2 and for the pg_* tools."""

    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    sslmode: str | None = None
    embedded: bool = False
    #: the PostgreSQL server itself when this address is a pooler (``db_direct_host``/``db_direct_port``)
    direct_to: "ServerAddress | None" = None

    @property
    def direct(self) -> "ServerAddress":
        """Where session-bound work goes: LISTEN, pg_dump/pg_restore, CREATE/DROP DATABASE, session locks.

        A transaction pooler (PgBouncer's ``pool_mode = transaction``) hands each
        transaction to any server connection, so a LISTEN there hears nothing and a
        session lock is lost at once; without a direct address, this one is used.
        """
        return self.direct_to or self

    @property
    def pooled(self) -> bool:
        """True when a separate direct address is configured (this one is then taken as a pooler)."""
        return self.direct_to is not None

    def connect_kwargs(self, dbname: str) -> dict[str, Any]:
        params = {"dbname": dbname, "host": self.host, "port": self.port, "user": self.user,
                  "password": self.password, "sslmode": self.sslmode, "application_name": "devshell"}
        return {key: value for key, value in params.items() if value is not None}

    def libpq_env(self) -> dict[str, str]:
        """Variables for child processes (pg_dump, pg_restore): secrets never on a command line."""
        names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
                 "sslmode": "PGSSLMODE"}
        return {env: str(getattr(self, attr)) for attr, env in names.items() if getattr(self, attr) is not None}

    def describe(self) -> str:
        where = "the embedded server" if self.embedded else "the server"
        return f"{where} at {self.location()}"

    def location(self) -> str:
        """``host:port`` (the default socket when no host is named)."""
        return (self.host or "the default socket") + (f":{self.port}" if self.port else "")


def resolve_server(config: Config, *, start: bool = True) -> ServerAddress:
    """The server the configuration names, or the embedded cluster (started if *start*).

    The database user is checked here, once, before anything is started on its
    behalf: the address uses the configured user, or the embedded cluster's own role.
    """
    check_db_user(config["db_user"])
    if config.is_set("db_host") or config.is_set("db_port"):
        address = ServerAddress(host=config["db_host"], port=config["db_port"], user=config["db_user"],
                                password=config["db_password"], sslmode=config["db_sslmode"])
    else:
        from .embedded import EmbeddedCluster

        cluster = EmbeddedCluster.from_config(config)
        if start:
            cluster.ensure_running()
        address = cluster.address()
        if config["db_user"]:
            address = replace(address, user=config["db_user"], password=config["db_password"])
    if config["db_direct_host"] or config["db_direct_port"]:
        direct = replace(address, host=config["db_direct_host"] or address.host,
                         port=config["db_direct_port"] or address.port)
        address = replace(address, direct_to=direct)
    return address


def validate_db_name(name: str) -> str:
    """Reject names PostgreSQL would truncate or that cannot be typed back."""
    if not name or not name.strip():
        raise UsageError("a database name cannot be empty")
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise UsageError(f"database name {name!r} is longer than {MAX_IDENTIFIER_BYTES} bytes")
    if "\x00" in name:
        raise UsageError("a database name cannot contain a NUL byte")
    return name


def connect(address: ServerAddress, dbname: str, *, autocommit: bool = False) -> "PgConnection":
    """Open a psycopg2 connection, turning libpq's failures into one clear line.

    *address* comes from :func:`resolve_server`, which checked its user already.
    """
    import psycopg2

    try:
        conn = psycopg2.connect(connect_timeout=10, **address.connect_kwargs(dbname))
    except psycopg2.OperationalError as exc:
        raise DatabaseError(_explain(exc, address, dbname)) from None
    conn.autocommit = autocommit
    return conn


def _explain(exc: Exception, address: ServerAddress, dbname: str) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else "connection failed"
    first = first.split("FATAL:", 1)[-1].strip()
    if "does not exist" in text and "database" in text:
        return f"database {dbname!r} does not exist on {address.describe()} (create it with: devshell db create {dbname})"
    if "password authentication failed" in text or "no password supplied" in text:
        return f"cannot log in to {address.describe()} as {address.user!r}: {first}"
    if "Connection refused" in text or "could not connect" in text or "No such file" in text \
            or "could not translate host name" in text or "timeout expired" in text:
        return f"cannot reach {address.describe()}: is the server running? ({first})"
    return f"cannot connect to database {dbname!r} on {address.describe()}: {first}"


def server_version(conn: "PgConnection") -> int:
    """The server's version as libpq reports it (e.g. 150004)."""
    return int(conn.server_version)


@contextmanager
def blocking_io() -> Iterator[None]:
    """Suspend psycopg2's wait callback (the shell's Ctrl-C support, gevent's psycogreen).

    COPY cannot run while a wait callback is installed, so code that loads with
    COPY wraps it in this; everything else keeps the callback.
    """
    import psycopg2.extensions

    previous = psycopg2.extensions.get_wait_callback()
    if previous is None:
        yield
        return
    psycopg2.extensions.set_wait_callback(None)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(previous)
