"""PostgreSQL's own clients on devshell's server: ``db psql`` and ``db url``.

Loading a SQL file or poking at a database by hand needs psql on the right
socket (or host), port and role; for the embedded cluster these live in its
data dir. The functions here turn a :class:`ServerAddress` into what psql and
every libpq program understand: ``PG*`` variables (secrets never on a command
line) or a libpq connection URI.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Sequence
from urllib.parse import quote, urlencode

from ..errors import DevshellError
from .admin import STAGING_PATTERN
from .connection import MAINTENANCE_DB, ServerAddress, connect

PSQL_HINT = "install the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client) or put psql on PATH"
SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def find_psql(pg_bindir: str | None = None) -> str:
    """The machine's psql: on PATH, else beside the server binaries (``pg_bindir``, Debian's layout)."""
    found = shutil.which("psql")
    if found:
        return found
    folders = [pg_bindir] if pg_bindir else []
    folders += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in folders:
        candidate = os.path.join(folder, "psql")
        if os.access(candidate, os.X_OK):
            return candidate
    raise DevshellError(f"psql not found: {PSQL_HINT}")


def client_environment(address: ServerAddress, db: str) -> dict[str, str]:
    """The ``PG*`` variables that point any libpq client at *db* on *address*."""
    return {**address.libpq_env(), "PGDATABASE": db}


def psql_invocation(address: ServerAddress, db: str | None, arguments: Sequence[str] = (), *,
                    pg_bindir: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of psql on *db* (default: the maintenance database) with *arguments* after."""
    psql = find_psql(pg_bindir)
    return [psql, *arguments], {**os.environ, **client_environment(address, db or MAINTENANCE_DB)}


def exec_psql(address: ServerAddress, db: str | None, arguments: Sequence[str] = (), *,
              pg_bindir: str | None = None) -> None:
    """Replace this process by psql on *db* (its exit status becomes ours)."""
    argv, environment = psql_invocation(address, db, arguments, pg_bindir=pg_bindir)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, environment)


def libpq_uri(address: ServerAddress, db: str) -> str:
    """A libpq connection URI for *db*: ``postgresql://user[:password]@host:port/db``.

    A unix socket folder goes in the query string (``?host=/path``), where libpq
    reads it without percent-encoding games in the authority part.
    """
    user = quote(address.user, safe="") if address.user else ""
    if user and address.password is not None:
        user += ":" + quote(address.password, safe="")
    query: dict[str, str] = {}
    authority = ""
    host = address.host or ""
    if host.startswith("/"):
        query["host"] = host
        if address.port:
            query["port"] = str(address.port)
    else:
        authority = f"[{host}]" if ":" in host else host
        if address.port:
            authority += f":{address.port}"
    if address.sslmode:
        query["sslmode"] = address.sslmode
    uri = f"postgresql://{user + '@' if user else ''}{authority}/{quote(db, safe='')}"
    return uri + ("?" + urlencode(query, safe="/") if query else "")


def shell_exports(address: ServerAddress, db: str) -> list[str]:
    """``export PGHOST=…`` lines for *db*, quoted for a POSIX shell: ``eval "$(devshell db url --env)"``."""
    return [f"export {name}={shlex.quote(value)}" for name, value in client_environment(address, db).items()]


def database_names(address: ServerAddress) -> list[str]:
    """The databases a client may connect to, sorted (lighter than ``list_databases``: no sizes)."""
    conn = connect(address, MAINTENANCE_DB, autocommit=True)
    try:
        with conn.cursor() as cr:
            cr.execute("""SELECT datname FROM pg_database
                           WHERE datallowconn AND NOT datistemplate AND datname <> %s AND datname !~ %s
                             AND has_database_privilege(datname, 'CONNECT') ORDER BY datname""",
                       (MAINTENANCE_DB, STAGING_PATTERN))
            return [row[0] for row in cr.fetchall()]
    finally:
        conn.close()


def human_size(size: int) -> str:
    """``7864320`` -> ``7.5 MiB``: what ``db list -l`` shows."""
    value = float(size)
    for unit in SIZE_UNITS:
        if abs(value) < 1024 or unit == SIZE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def socket_file(address: ServerAddress) -> Path | None:
    """The unix socket file of *address*, when it is reached through one."""
    if address.host and address.host.startswith("/") and address.port:
        return Path(address.host) / f".s.PGSQL.{address.port}"
    return None
