"""A small blocking pool of PostgreSQL connections for one database.

psycopg2's own pools raise when they run dry; a server would rather wait a
little for a connection to come back, and answer 503 when none does.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ...errors import DatabaseError

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from ...db.connection import ServerAddress

DEFAULT_SIZE = 32  #: the ``db_maxconn`` setting's default
ACQUIRE_TIMEOUT = 30.0


class PoolExhausted(DatabaseError):
    """Every connection of a database stayed busy for the whole wait."""


class ConnectionPool:
    """Up to *size* connections to *db*, reused most-recent first; broken ones are dropped."""

    def __init__(self, address: "ServerAddress", db: str, size: int = DEFAULT_SIZE) -> None:
        self.address = address
        self.db = db
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[PgConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, timeout: float = ACQUIRE_TIMEOUT) -> "PgConnection":
        """A connection outside any transaction; give it back with :meth:`release`."""
        from ...db.connection import connect

        if self._closed:
            raise DatabaseError(f"the connection pool of {self.db!r} is closed (the server is stopping)")
        if not self._slots.acquire(timeout=timeout):
            raise PoolExhausted(f"all {self.size} connections to {self.db!r} stayed busy for {timeout:.0f} s")
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = connect(self.address, self.db)
            return conn
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: "PgConnection", *, discard: bool = False) -> None:
        """Take *conn* back (its open transaction rolled back); a broken or discarded one is closed."""
        import psycopg2.extensions

        try:
            if not discard and not conn.closed:
                if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    conn.rollback()
                with self._lock:
                    if not self._closed:
                        self._idle.append(conn)
                        return
            conn.close()
        except Exception:  # a connection that cannot even roll back is of no further use
            conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections; connections still lent out are closed when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
