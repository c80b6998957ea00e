"""New databases built under a hidden name and renamed once complete: a killed run leaves nothing visible.

``db restore`` and ``db init`` on a new name build ``NAME__restoring_<hex>`` or
``NAME__initializing_<hex>`` and rename it to ``NAME`` only after the work
succeeded; on an error (SIGINT, or SIGTERM, see :mod:`devshell.interrupts`) the
staging database is dropped. A run killed with SIGKILL cannot clean up, so each
build first drops the staging databases nobody holds any more: the run that
builds one holds a session advisory lock on its name, which PostgreSQL releases
when that run's connection goes away. Listings (``db list``, the server's
database list) never show staging names.
"""

from __future__ import annotations

import contextlib
import secrets
import zlib
from typing import TYPE_CHECKING, Iterator

from .admin import STAGING_PATTERN, create_database, drop_database, rename_database
from .connection import MAINTENANCE_DB, ServerAddress, connect

if TYPE_CHECKING:
    from psycopg2.extensions import cursor as PgCursor

#: the first key of devshell's advisory locks on database names ("devs")
LOCK_SPACE = 0x64657673


def staging_name(name: str, purpose: str) -> str:
    """A fresh hidden name for building *name* (``restoring`` or ``initializing``), under 63 bytes."""
    prefix = name.encode()[:40].decode(errors="ignore")  # PostgreSQL cuts names at 63 bytes, not characters
    return f"{prefix}__{purpose}_{secrets.token_hex(4)}"


def lock_key(name: str) -> int:
    """The second key of the advisory lock on the database name *name*."""
    return zlib.crc32(name.encode()) - 2**31  # an int4, as pg_advisory_lock(int, int) takes


def _try_lock(cr: "PgCursor", name: str) -> bool:
    cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, lock_key(name)))
    row = cr.fetchone()
    return bool(row and row[0])


def remove_abandoned(address: ServerAddress) -> list[str]:
    """Drop the staging databases whose builder is gone (killed); the names dropped."""
    dropped = []
    conn = connect(address.direct, MAINTENANCE_DB, autocommit=True)  # session locks: never through a pooler
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT datname FROM pg_database WHERE datname ~ %s ORDER BY 1", (STAGING_PATTERN,))
            for (name,) in cr.fetchall():
                if not _try_lock(cr, name):
                    continue  # a live run is building it
                try:
                    if drop_database(address, name, missing_ok=True):
                        dropped.append(name)
                finally:
                    cr.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, lock_key(name)))
    finally:
        conn.close()
    return dropped


@contextlib.contextmanager
def new_database(address: ServerAddress, name: str, purpose: str) -> Iterator[str | None]:
    """Build the new database *name* in the block: yields the staging name to fill, renamed to *name* at the end.

    Builds of one name are serialised (an advisory lock on *name*): when *name*
    exists once the lock is held (another run made it first, or it was there),
    the block gets None and works on *name* itself. An exception in the block
    drops the staging database and goes on.
    """
    conn = connect(address.direct, MAINTENANCE_DB, autocommit=True)  # holds the locks; closing it releases them
    try:
        with conn.cursor() as cr:
            cr.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_SPACE, lock_key(name)))
            remove_abandoned(address)
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cr.fetchone() is not None:
                yield None
                return
            staging = staging_name(name, purpose)
            if not _try_lock(cr, staging):  # pragma: no cover - a fresh random name is never held
                raise RuntimeError(f"staging name {staging} is in use")
            try:  # an interruption during CREATE DATABASE itself must not leave the staging database either
                create_database(address, staging)
                yield staging
                rename_database(address, staging, name)
            except BaseException:
                with contextlib.suppress(Exception):
                    drop_database(address, staging, missing_ok=True)
                raise
    finally:
        conn.close()
